// Command coredns is CoreDNS built with only its bind and kubernetes plugins: the
// peer that hack/bench measures Flotilla's cluster DNS against. It is a
// module of its own so that CoreDNS's dependencies stay out of Flotilla's.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	// The only plugins compiled in.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/kubernetes"
)

func init() { dnsserver.Directives = []string{"bind", "kubernetes"} }

func main() { coremain.Run() }
