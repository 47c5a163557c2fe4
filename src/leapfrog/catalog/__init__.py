"""The embedded Consul-compatible catalog."""
