"""Helpers that know nothing of stacks or services: processes, ports, probes, files."""
