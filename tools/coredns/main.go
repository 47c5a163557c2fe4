// Wrapper module: builds CoreDNS, the cluster DNS of the real test node (leapfrog.testing),
// from Go modules (scripts/coredns-build.sh). The plugins are chosen at compile time, as
// CoreDNS documents for custom builds: only what the node's Corefile uses, so the build
// compiles neither the cloud providers' SDKs nor the other plugins CoreDNS ships.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
