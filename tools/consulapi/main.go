// consulapi drives leapfrog's catalog through HashiCorp's own Go client
// (github.com/hashicorp/consul/api), the library consul-template, Prometheus' Consul
// discovery, Nomad, Vault and the consul CLI are built on. Each subcommand makes real
// client calls and prints what the client decoded as JSON on stdout; a call the client
// rejects (a field it cannot decode, a 404 it does not expect) is reported under
// "errors" and makes the exit status 1. The integration tests in
// tests/integration/catalog run it against a real catalog process.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

func usage() {
	fmt.Fprint(os.Stderr, `usage: consulapi [-addr host:port] [-token T] COMMAND [flags]

Commands (each prints one JSON object; exit 1 when any client call failed):
  read      -service NAME... -node NAME   every read a Consul tool makes of services, checks, the agent
  register  -name N -port P [-http URL|-tcp ADDR|-ttl D] [-interval D]
                                          register a service the way Go programs do (api.AgentServiceRegistration)
  check     -id ID -service-id S -ttl D   register a check alone (/v1/agent/check/register) and pass it
  kv        -prefix P                     put, get, list, keys and a missing key
  wait      -service NAME -index N [-wait D]
                                          one blocking Health().Service query from index N
  acl       -prefix P -service S          with a management token: a policy (HCL rules), a role and
                                          a token (policy + service identity) made, read, listed and
                                          used; the token's refused calls are results ("denied/...")
  connect   -source S -destination D      the service mesh: CA roots and configuration, S's leaf
                                          (and a blocking read of it), intentions written, read,
                                          matched, checked and deleted, and authorize before/after
`)
	os.Exit(2)
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// report collects each call's decoded result, or the client's error, under the call's name.
type report struct {
	Results map[string]any    `json:"results"`
	Errors  map[string]string `json:"errors"`
}

func newReport() *report {
	return &report{Results: map[string]any{}, Errors: map[string]string{}}
}

func (r *report) add(name string, value any, err error) {
	if err != nil {
		r.Errors[name] = err.Error()
		return
	}
	r.Results[name] = value
}

func (r *report) print() {
	out, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, "consulapi:", err)
		os.Exit(1)
	}
	fmt.Println(string(out))
	if len(r.Errors) > 0 {
		os.Exit(1)
	}
}

// indexed is a result with the X-Consul-Index the client read.
type indexed struct {
	Index uint64 `json:"index"`
	Value any    `json:"value"`
}

func read(client *api.Client, args []string) *report {
	fs := flag.NewFlagSet("read", flag.ExitOnError)
	var services multi
	fs.Var(&services, "service", "a service to read (repeatable)")
	node := fs.String("node", "", "the node to read (default: the agent's own)")
	_ = fs.Parse(args)
	r := newReport()
	health, catalog, agent := client.Health(), client.Catalog(), client.Agent()

	self, err := agent.Self()
	r.add("agent_self", self, err)
	if *node == "" {
		name, err := agent.NodeName()
		r.add("agent_node_name", name, err)
		*node = name
	}
	checks, err := agent.Checks()
	r.add("agent_checks", checks, err)
	agentServices, err := agent.Services()
	r.add("agent_services", agentServices, err)
	members, err := agent.Members(false)
	r.add("agent_members", members, err)
	host, err := agent.Host()
	r.add("agent_host", host, err)

	names, meta, err := catalog.Services(nil)
	r.add("catalog_services", indexedOf(names, meta), err)
	nodes, meta, err := catalog.Nodes(nil)
	r.add("catalog_nodes", indexedOf(nodes, meta), err)
	catalogNode, meta, err := catalog.Node(*node, nil)
	r.add("catalog_node", indexedOf(catalogNode, meta), err)
	nodeChecks, meta, err := health.Node(*node, nil)
	r.add("health_node", indexedOf(nodeChecks, meta), err)
	state, meta, err := health.State(api.HealthAny, nil)
	r.add("health_state_any", indexedOf(state, meta), err)
	coords, meta, err := client.Coordinate().Nodes(nil)
	r.add("coordinate_nodes", indexedOf(coords, meta), err)
	events, meta, err := client.Event().List("", nil)
	r.add("event_list", indexedOf(events, meta), err)
	queries, meta, err := client.PreparedQuery().List(nil)
	r.add("query_list", indexedOf(queries, meta), err)

	for _, name := range services {
		entries, meta, err := health.Service(name, "", false, nil)
		r.add("health_service/"+name, indexedOf(entries, meta), err)
		passing, meta, err := health.Service(name, "", true, nil)
		r.add("health_service_passing/"+name, indexedOf(passing, meta), err)
		serviceChecks, meta, err := health.Checks(name, nil)
		r.add("health_checks/"+name, indexedOf(serviceChecks, meta), err)
		connect, meta, err := health.Connect(name, "", false, nil)
		r.add("health_connect/"+name, indexedOf(connect, meta), err)
		instances, meta, err := catalog.Service(name, "", nil)
		r.add("catalog_service/"+name, indexedOf(instances, meta), err)
		status, infos, err := agent.AgentHealthServiceByName(name)
		r.add("agent_health_service_by_name/"+name, map[string]any{"status": status, "infos": infos}, err)
	}
	return r
}

func indexedOf(value any, meta *api.QueryMeta) indexed {
	if meta == nil {
		return indexed{Value: value}
	}
	return indexed{Index: meta.LastIndex, Value: value}
}

func register(client *api.Client, args []string) *report {
	fs := flag.NewFlagSet("register", flag.ExitOnError)
	name := fs.String("name", "", "service name")
	id := fs.String("id", "", "service ID (default: the name)")
	port := fs.Int("port", 0, "service port")
	address := fs.String("address", "", "service address")
	httpURL := fs.String("http", "", "HTTP check URL")
	tcp := fs.String("tcp", "", "TCP check address")
	ttl := fs.String("ttl", "", "TTL check duration")
	interval := fs.String("interval", "1s", "interval of an HTTP or TCP check")
	var tags multi
	fs.Var(&tags, "tag", "a tag (repeatable)")
	_ = fs.Parse(args)
	check := &api.AgentServiceCheck{HTTP: *httpURL, TCP: *tcp, TTL: *ttl}
	if *ttl == "" {
		check.Interval = *interval
		check.Timeout = "2s"
		check.DeregisterCriticalServiceAfter = "10m"
	}
	registration := &api.AgentServiceRegistration{
		ID: *id, Name: *name, Port: *port, Address: *address, Tags: tags,
		Meta:  map[string]string{"registered-by": "consulapi"},
		Check: check,
	}
	r := newReport()
	r.add("service_register", true, client.Agent().ServiceRegister(registration))
	return r
}

func checkOnly(client *api.Client, args []string) *report {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	id := fs.String("id", "", "check ID")
	serviceID := fs.String("service-id", "", "the service the check belongs to")
	ttl := fs.String("ttl", "30s", "TTL")
	_ = fs.Parse(args)
	registration := &api.AgentCheckRegistration{
		ID: *id, Name: *id, ServiceID: *serviceID,
		AgentServiceCheck: api.AgentServiceCheck{TTL: *ttl},
	}
	r := newReport()
	agent := client.Agent()
	r.add("check_register", true, agent.CheckRegister(registration))
	r.add("update_ttl", true, agent.UpdateTTL(*id, "set by consulapi", api.HealthPassing))
	return r
}

func kv(client *api.Client, args []string) *report {
	fs := flag.NewFlagSet("kv", flag.ExitOnError)
	prefix := fs.String("prefix", "consulapi/", "the KV prefix to use")
	_ = fs.Parse(args)
	r := newReport()
	store := client.KV()
	for i, key := range []string{"a", "b/c", "b/d"} {
		pair := &api.KVPair{Key: *prefix + key, Value: []byte("value-" + key), Flags: uint64(i)}
		_, err := store.Put(pair, nil)
		r.add("put/"+key, true, err)
	}
	pair, meta, err := store.Get(*prefix+"a", nil)
	r.add("get", indexedOf(pair, meta), err)
	if pair != nil {
		r.Results["get_value"] = string(pair.Value)
	}
	missing, meta, err := store.Get(*prefix+"missing", nil)
	r.add("get_missing", indexedOf(missing, meta), err)
	pairs, meta, err := store.List(*prefix, nil)
	r.add("list", indexedOf(pairs, meta), err)
	keys, meta, err := store.Keys(*prefix, "/", nil)
	r.add("keys", indexedOf(keys, meta), err)
	return r
}

func wait(client *api.Client, args []string) *report {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	name := fs.String("service", "", "the service to watch")
	index := fs.Uint64("index", 0, "the index to wait past")
	waitFor := fs.Duration("wait", 30*time.Second, "the longest wait")
	_ = fs.Parse(args)
	r := newReport()
	started := time.Now()
	entries, meta, err := client.Health().Service(*name, "", true, &api.QueryOptions{
		WaitIndex: *index, WaitTime: *waitFor,
	})
	r.add("health_service", indexedOf(entries, meta), err)
	r.Results["waited_ms"] = time.Since(started).Milliseconds()
	return r
}

// acl makes Consul's ACL objects through the client and then uses the token it made.
func acl(client *api.Client, args []string) *report {
	fs := flag.NewFlagSet("acl", flag.ExitOnError)
	prefix := fs.String("prefix", "consulapi-acl/", "the KV prefix the policy grants read on")
	service := fs.String("service", "goapp", "the service identity of the token")
	_ = fs.Parse(args)
	r := newReport()
	acls := client.ACL()
	rules := fmt.Sprintf("key_prefix %q {\n  policy = \"read\"\n}\n", *prefix)
	policy, _, err := acls.PolicyCreate(&api.ACLPolicy{
		Name: "consulapi-reader", Description: "made by consulapi", Rules: rules,
	}, nil)
	r.add("policy_create", policy, err)
	if err != nil {
		return r
	}
	read, _, err := acls.PolicyRead(policy.ID, nil)
	r.add("policy_read", read, err)
	byName, _, err := acls.PolicyReadByName("consulapi-reader", nil)
	r.add("policy_read_by_name", byName, err)
	policies, _, err := acls.PolicyList(nil)
	r.add("policy_list", policies, err)
	role, _, err := acls.RoleCreate(&api.ACLRole{
		Name: "consulapi-role", Policies: []*api.ACLRolePolicyLink{{ID: policy.ID}},
	}, nil)
	r.add("role_create", role, err)
	token, _, err := acls.TokenCreate(&api.ACLToken{
		Description:       "consulapi token",
		Policies:          []*api.ACLTokenPolicyLink{{Name: "consulapi-reader"}},
		ServiceIdentities: []*api.ACLServiceIdentity{{ServiceName: *service}},
	}, nil)
	r.add("token_create", token, err)
	if err != nil {
		return r
	}
	got, _, err := acls.TokenRead(token.AccessorID, nil)
	r.add("token_read", got, err)
	listed, _, err := acls.TokenListFiltered(api.ACLTokenFilterOptions{Policy: policy.ID}, nil)
	r.add("token_list_by_policy", listed, err)
	_, err = client.KV().Put(&api.KVPair{Key: *prefix + "greeting", Value: []byte("hi")}, nil)
	r.add("kv_put_management", true, err)

	// Now as the token that was made.
	config := api.DefaultConfig()
	config.Address = clientAddress
	config.Token = token.SecretID
	user, err := api.NewClient(config)
	if err != nil {
		r.add("token_client", nil, err)
		return r
	}
	self, _, err := user.ACL().TokenReadSelf(nil)
	r.add("token_self", self, err)
	pair, _, err := user.KV().Get(*prefix+"greeting", nil)
	r.add("token_kv_get", pair, err)
	err = user.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: *service + "-1", Name: *service, Port: 7000,
	})
	r.add("token_register_own", true, err)
	refused := map[string]string{}
	if err := user.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: "not-" + *service, Name: "not-" + *service, Port: 7001,
	}); err != nil {
		refused["register_other"] = err.Error()
	}
	if _, err := user.KV().Put(&api.KVPair{Key: *prefix + "x", Value: []byte("x")}, nil); err != nil {
		refused["kv_put"] = err.Error()
	}
	if _, _, err := user.ACL().PolicyList(nil); err != nil {
		refused["policy_list"] = err.Error()
	}
	r.Results["denied"] = refused
	_, err = acls.TokenDelete(token.AccessorID, nil)
	r.add("token_delete", true, err)
	_, err = acls.RoleDelete(role.ID, nil)
	r.add("role_delete", true, err)
	_, err = acls.PolicyDelete(policy.ID, nil)
	r.add("policy_delete", true, err)
	return r
}

// connect drives the service-mesh API: the CA, intentions and authorize.
func connect(client *api.Client, args []string) *report {
	fs := flag.NewFlagSet("connect", flag.ExitOnError)
	source := fs.String("source", "web", "the calling service")
	destination := fs.String("destination", "db", "the called service")
	_ = fs.Parse(args)
	r := newReport()
	mesh, agent := client.Connect(), client.Agent()

	roots, meta, err := mesh.CARoots(nil)
	r.add("ca_roots", indexedOf(roots, meta), err)
	agentRoots, meta, err := agent.ConnectCARoots(nil)
	r.add("agent_ca_roots", indexedOf(agentRoots, meta), err)
	config, _, err := mesh.CAGetConfig(nil)
	r.add("ca_config", config, err)
	leaf, meta, err := agent.ConnectCALeaf(*source, nil)
	r.add("leaf", indexedOf(leaf, meta), err)
	if err == nil {
		// A blocking read at the leaf's index returns when the wait is up, same leaf.
		started := time.Now()
		again, meta, err := agent.ConnectCALeaf(*source, &api.QueryOptions{
			WaitIndex: meta.LastIndex, WaitTime: 500 * time.Millisecond,
		})
		r.add("leaf_blocking", indexedOf(again, meta), err)
		r.Results["leaf_blocking_ms"] = time.Since(started).Milliseconds()
	}

	_, err = mesh.IntentionUpsert(&api.Intention{
		SourceName: *source, DestinationName: *destination, Action: api.IntentionActionAllow,
		Description: "made by consulapi", Meta: map[string]string{"by": "consulapi"},
	}, nil)
	r.add("intention_upsert", true, err)
	exact, _, err := mesh.IntentionGetExact(*source, *destination, nil)
	r.add("intention_get_exact", exact, err)
	id, _, err := mesh.IntentionCreate(&api.Intention{
		SourceName: "*", DestinationName: *destination, Action: api.IntentionActionDeny,
	}, nil)
	r.add("intention_create", id, err)
	byID, _, err := mesh.IntentionGet(id, nil)
	r.add("intention_get", byID, err)
	list, meta, err := mesh.Intentions(nil)
	r.add("intentions", indexedOf(list, meta), err)
	matches, _, err := mesh.IntentionMatch(&api.IntentionMatch{
		By: api.IntentionMatchDestination, Names: []string{*destination},
	}, nil)
	r.add("intention_match", matches, err)
	allowed, _, err := mesh.IntentionCheck(&api.IntentionCheck{
		Source: *source, Destination: *destination,
	}, nil)
	r.add("intention_check_source", allowed, err)
	other, _, err := mesh.IntentionCheck(&api.IntentionCheck{
		Source: "other-" + *source, Destination: *destination,
	}, nil)
	r.add("intention_check_other", other, err)
	uri := ""
	if leaf != nil {
		uri = leaf.ServiceURI
	}
	auth, err := agent.ConnectAuthorize(&api.AgentAuthorizeParams{
		Target: *destination, ClientCertURI: uri, ClientCertSerial: "",
	})
	r.add("authorize_allowed", auth, err)
	_, err = mesh.IntentionDeleteExact(*source, *destination, nil)
	r.add("intention_delete_exact", true, err)
	auth, err = agent.ConnectAuthorize(&api.AgentAuthorizeParams{
		Target: *destination, ClientCertURI: uri,
	})
	r.add("authorize_after_delete", auth, err)
	_, err = mesh.IntentionDelete(id, nil)
	r.add("intention_delete", true, err)
	missing, _, err := mesh.IntentionGetExact(*source, *destination, nil)
	r.add("intention_get_missing", missing, err)
	return r
}

// clientAddress is the address the first client was made with, for the second.
var clientAddress string

func main() {
	addr := flag.String("addr", "", "the catalog's HTTP address (default: CONSUL_HTTP_ADDR)")
	token := flag.String("token", "", "ACL token (default: CONSUL_HTTP_TOKEN)")
	flag.Usage = usage
	flag.Parse()
	if flag.NArg() < 1 {
		usage()
	}
	config := api.DefaultConfig()
	if *addr != "" {
		config.Address = *addr
	}
	if *token != "" {
		config.Token = *token
	}
	clientAddress = config.Address
	client, err := api.NewClient(config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "consulapi:", err)
		os.Exit(1)
	}
	commands := map[string]func(*api.Client, []string) *report{
		"read": read, "register": register, "check": checkOnly, "kv": kv, "wait": wait, "acl": acl,
		"connect": connect,
	}
	command, ok := commands[flag.Arg(0)]
	if !ok {
		usage()
	}
	command(client, flag.Args()[1:]).print()
}
