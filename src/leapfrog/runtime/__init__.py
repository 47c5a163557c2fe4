"""Runtimes: where a plan runs. `local` is the supervisor on this machine."""
