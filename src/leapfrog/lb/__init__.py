"""The load balancer: configuration rendered from the catalog, validated and reloaded.

`Template` renders Jinja2 with consul-template's functions over blocking catalog queries;
`run_templates` is `leapfrog template`; `run_balancer` is `leapfrog lb run`, which keeps
HAProxy (or nginx) as its child in step with the catalog."""

from leapfrog.lb._accesslog import HAPROXY_LOG_FORMAT, AccessLog, parse_access_line
from leapfrog.lb._balancer import BalancerSettings, run_balancer
from leapfrog.lb._client import CatalogClient, catalog_url
from leapfrog.lb._data import KeyPair, ServiceInstance, ServiceName
from leapfrog.lb._haproxy_cfg import map_files, runtime_change, runtime_commands, split_config
from leapfrog.lb._routes import Route, route_of, sort_routes
from leapfrog.lb._slots import SlotTable
from leapfrog.lb._template import DEFAULT_TEMPLATES, Rendered, Template
from leapfrog.lb._templates_run import TemplateJob, parse_job, run_templates
from leapfrog.lb._wait import Wait, parse_wait, quiesce
from leapfrog.lb._watch import Dep, Watcher

__all__ = [
    "DEFAULT_TEMPLATES",
    "HAPROXY_LOG_FORMAT",
    "AccessLog",
    "BalancerSettings",
    "CatalogClient",
    "Dep",
    "KeyPair",
    "Rendered",
    "Route",
    "ServiceInstance",
    "ServiceName",
    "SlotTable",
    "Template",
    "TemplateJob",
    "Wait",
    "Watcher",
    "catalog_url",
    "map_files",
    "parse_access_line",
    "parse_job",
    "parse_wait",
    "quiesce",
    "route_of",
    "run_balancer",
    "run_templates",
    "runtime_change",
    "runtime_commands",
    "sort_routes",
    "split_config",
]
