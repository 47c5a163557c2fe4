"""The service SDK: what a team imports so its own service uses the platform."""
