"""The load balancer: configuration rendered from the catalog, validated and reloaded."""
