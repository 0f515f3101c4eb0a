package dns

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
	"k8s.io/client-go/informers"
)

// Defaults of Config.
const (
	DefaultDomain          = "cluster.local"
	DefaultTTL             = 5
	DefaultResolvConf      = "/etc/resolv.conf"
	DefaultUpstreamTimeout = 2 * time.Second
	DefaultMaxForwards     = 1000
)

// Config describes a Server.
type Config struct {
	// Domain is the cluster domain (DefaultDomain when empty).
	Domain string
	// Addresses are the host:port pairs served; each is bound for UDP and
	// for TCP on the same port. Port 0 picks a port free for both.
	Addresses []string
	// Upstreams are the resolvers (host or host:port) that names outside
	// the cluster go to. Empty: the nameservers of ResolvConf.
	Upstreams []string
	// ResolvConf is read once at start when Upstreams is empty
	// (DefaultResolvConf when empty).
	ResolvConf string
	// NoForward answers names outside the cluster with REFUSED instead of
	// forwarding them.
	NoForward bool
	// TTL of every record served from the caches, and the negative-caching
	// TTL of the SOA (DefaultTTL when 0).
	TTL uint32
	// ReverseCIDRs are the cluster's address ranges (Services, pods):
	// reverse names inside them are answered here, NXDOMAIN when unknown,
	// instead of being forwarded.
	ReverseCIDRs []netip.Prefix
	// NameserverIPs are the addresses of ns.dns.<zone>, the name server of
	// the zone's NS record (the kube-dns Service's cluster IP). Optional.
	NameserverIPs []netip.Addr
	// Informers is the factory whose Service and EndpointSlice informers
	// the server answers from. The caller starts it after New and stops it.
	Informers informers.SharedInformerFactory
	// UpstreamTimeout bounds one exchange with one upstream
	// (DefaultUpstreamTimeout when 0).
	UpstreamTimeout time.Duration
	// MaxForwards bounds the forwarded queries in flight; beyond it a query
	// is REFUSED at once rather than piling up goroutines
	// (DefaultMaxForwards when 0).
	MaxForwards int
	// Log receives errors; slog.Default() when nil.
	Log *slog.Logger
}

func (c *Config) complete() error {
	if c.Informers == nil {
		return errors.New("dns: Config.Informers is required")
	}
	if len(c.Addresses) == 0 {
		return errors.New("dns: Config.Addresses is empty")
	}
	for _, a := range c.Addresses {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("dns: listen address %q: %w", a, err)
		}
	}
	if c.Domain == "" {
		c.Domain = DefaultDomain
	}
	c.Domain = strings.ToLower(strings.TrimSuffix(c.Domain, "."))
	if _, ok := mdns.IsDomainName(c.Domain); !ok || c.Domain == "" {
		return fmt.Errorf("dns: cluster domain %q is not a domain name", c.Domain)
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.ResolvConf == "" {
		c.ResolvConf = DefaultResolvConf
	}
	if c.UpstreamTimeout == 0 {
		c.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if c.MaxForwards == 0 {
		c.MaxForwards = DefaultMaxForwards
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	for i, p := range c.ReverseCIDRs {
		c.ReverseCIDRs[i] = p.Masked()
	}
	return nil
}

// upstreams resolves the upstream list: the configured one, or the
// nameservers of resolv.conf, without the server's own sockets (forwarding
// to ourselves would loop until every query timed out).
func (c *Config) upstreams(own []netip.AddrPort) ([]string, error) {
	if c.NoForward {
		return nil, nil
	}
	var list []string
	if len(c.Upstreams) > 0 {
		for _, u := range c.Upstreams {
			if _, _, err := net.SplitHostPort(u); err != nil {
				u = net.JoinHostPort(u, "53")
			}
			list = append(list, u)
		}
	} else {
		rc, err := mdns.ClientConfigFromFile(c.ResolvConf)
		if err != nil {
			return nil, fmt.Errorf("read upstream resolvers: %w", err)
		}
		for _, s := range rc.Servers {
			list = append(list, net.JoinHostPort(s, rc.Port))
		}
	}
	locals := localAddrs(own)
	var out []string
	for _, u := range list {
		ap, err := netip.ParseAddrPort(u)
		if err == nil && isOwn(ap, own, locals) {
			c.Log.Info("dns: upstream is this server, not forwarding to it", "upstream", u)
			continue
		}
		out = append(out, u)
	}
	return out, nil
}

// localAddrs lists the host's addresses when a socket is bound to the
// unspecified address, since any of them then reaches it.
func localAddrs(own []netip.AddrPort) []netip.Addr {
	for _, o := range own {
		if o.Addr().IsUnspecified() {
			var out []netip.Addr
			addrs, _ := net.InterfaceAddrs()
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(n.IP); ok {
						out = append(out, ip.Unmap())
					}
				}
			}
			return out
		}
	}
	return nil
}

func isOwn(up netip.AddrPort, own []netip.AddrPort, locals []netip.Addr) bool {
	ua := up.Addr().Unmap().WithZone("")
	for _, o := range own {
		if o.Port() != up.Port() {
			continue
		}
		oa := o.Addr().Unmap()
		if oa == ua {
			return true
		}
		if oa.IsUnspecified() && (ua.IsLoopback() || ua.IsUnspecified() || slices.Contains(locals, ua)) {
			return true
		}
	}
	return false
}
