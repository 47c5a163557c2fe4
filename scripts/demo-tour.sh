#!/usr/bin/env bash
# After `make demo`: show the user where to look.
set -euo pipefail
cd "$(dirname "$0")/.."
STACK="${1:-examples/leapfrog.yaml}"
LF=".venv/bin/leapfrog -f $STACK"
first=$($LF status --json | .venv/bin/python -c '
import json, sys
item = next(i for i in json.load(sys.stdin) if i["unit"] == "hello")
print(item["address"] + ":" + str(item["port"]))
')
address_of() {  # address:port of the first instance of a unit, empty when it has none
  $LF status --json | .venv/bin/python -c '
import json, sys
item = next((i for i in json.load(sys.stdin) if i["unit"] == sys.argv[1]), None)
print(item["address"] + ":" + str(item["port"]) if item else "")
' "$1"
}
reader=$(address_of reader)
opensearch=$(address_of opensearch)
influxdb=$(address_of influxdb)
console=$(address_of console)
flink=$(address_of flink)
echo
echo "The example platform is up. Where to look:"
row() { printf '  %-62s %s\n' "$1" "$2"; }
if [ -n "$console" ]; then
  row "$LF console" "the web console: units, services, KV, logs, metrics (log in with a token from \`$LF secrets catalog --show-secrets\`)"
fi
row "curl http://127.0.0.1:8080/" "through the load balancer: hello, each instance in turn"
row "curl http://127.0.0.1:8080/events/count" "through the load balancer: reader"
row "curl http://127.0.0.1:8404/" "HAProxy's stats page: backends follow the catalog"
row "curl http://$first/" "hello answers, with its instance and host name"
row "curl -d '{\"type\":\"greeting\"}' http://$first/events" "hello writes an event to Kafka (202 once acked)"
row "curl http://$reader/events/count" "reader counts what it consumed (PostgreSQL)"
row "curl http://$first/metrics" "per-route request metrics (Prometheus text)"
PICK='import json,sys; print(json.load(sys.stdin)["catalog"]["read token"])'
row "TOKEN=\$($LF secrets catalog --show-secrets --json | .venv/bin/python -c '$PICK')" "a read-only catalog token: ACL denies requests without one"
row "curl -H \"X-Consul-Token: \$TOKEN\" 127.0.0.1:8500/v1/health/service/reader" "reader registered itself (TTL check) with the SDK"
if [ -n "$opensearch" ]; then
  row "curl http://$opensearch/_cluster/health?pretty" "OpenSearch, one node (docs/opensearch.md)"
  row "curl -s 'http://$opensearch/logs-*/_search?q=service:hello&sort=@timestamp:desc&size=3&pretty'" "hello's latest log events, searched in OpenSearch (daily indices logs-*)"
  row "curl -s 'http://$opensearch/logs-*/_search?q=service:kafka%20AND%20level:warning&size=3&pretty'" "the Kafka broker's own warnings (its log, parsed into events)"
  row "curl -s 'http://$opensearch/logs-*/_search?q=logger:leapfrog.supervisor%20AND%20event:started&size=3&pretty'" "the supervisor's events: started, exited, restarting, health"
fi
if [ -n "$influxdb" ]; then
  row "curl -G http://$influxdb/query --data-urlencode 'q=SHOW DATABASES'" "InfluxDB (docs/influxdb.md)"
  row "curl -s -G http://$influxdb/query --data-urlencode db=metrics --data-urlencode \"q=SELECT last(value) FROM http_requests_total WHERE service='hello' GROUP BY instance\"" "hello's requests per instance, from InfluxDB (every 10 s)"
  row "curl -s -G http://$influxdb/query --data-urlencode db=metrics --data-urlencode \"q=SELECT last(value) FROM leapfrog_instance_rss_bytes GROUP BY instance\"" "each instance's memory, as the supervisor measures it"
fi
if [ -n "$flink" ]; then
  row "http://$flink/" "Flink's dashboard: the events-per-minute and service-stats jobs"
fi
row "$LF status" "every instance: state, address, version, pid"
row "$LF backup list postgres" "scheduled backups (a store every 2 min) and their verification"
if [ -n "$opensearch" ]; then
  row "curl -s 'http://$opensearch/logs-*/_search?q=logger:leapfrog.backup.scheduler&sort=@timestamp:desc&size=3&pretty'" "backup, verify and prune events of the schedules"
fi
row "curl -H \"X-Consul-Token: \$TOKEN\" 127.0.0.1:8500/v1/catalog/services" "the catalog (Consul HTTP API); without a token: {}"
row "dig @127.0.0.1 -p 8600 kafka.service.consul SRV" "the catalog's DNS (with its own read token): components are registered"
row "$LF logs kafka" "Kafka's own log (also zookeeper, postgres, catalog)"
row "$LF secrets --show-secrets" "generated passwords and the catalog's tokens (hidden without the flag)"
row "$LF logs -f hello" "hello's JSON log events (also in Kafka topic logs)"
row "$LF logs supervisor" "what the supervisor did, and when"
row "$LF down" "stop everything"
echo "Answer through the load balancer right now: $(curl -s http://127.0.0.1:8080/ || echo '(curl failed)')"
