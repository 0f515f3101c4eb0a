package containers

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// A pod's resolv.conf is the kubelet's (pkg/kubelet/network/dns): the
// sandbox's DNSConfig carries it and the runtime writes the file, shared
// by the pod's containers.
//
// The limits are the API's for spec.dnsConfig, which the kubelet also
// applies to the composed file: glibc and musl read at most three
// nameservers, and a search line beyond these sizes is cut (with a
// warning Event) rather than fail the pod.
const (
	maxDNSNameservers     = 3
	maxDNSSearchPaths     = 32
	maxDNSSearchListChars = 2048
	// maxResolvConfSize bounds how much of the host's file is read.
	maxResolvConfSize = 10 << 20
	// defaultNdots is the ClusterFirst option: a name with fewer than five
	// dots tries the cluster's search domains first, so `web` and
	// `web.other-ns` resolve to Services.
	defaultNdots = "ndots:5"
	// The host's resolv.conf, and the one systemd-resolved keeps with the
	// real upstreams when the first only names its loopback stub.
	hostResolvConf     = "/etc/resolv.conf"
	resolvedResolvConf = "/run/systemd/resolve/resolv.conf"
)

// podDNSType is what a pod's dnsPolicy means on this node.
type podDNSType int

const (
	podDNSCluster podDNSType = iota // the cluster's DNS Service
	podDNSHost                      // the node's resolv.conf
	podDNSNone                      // only spec.dnsConfig
)

// dnsType maps dnsPolicy as the kubelet does: ClusterFirst on the host
// network falls back to Default unless the pod asks for
// ClusterFirstWithHostNet; an unknown policy (the API refuses one, but a
// static pod's manifest may have it) is ClusterFirst.
func dnsType(pod *corev1.Pod) podDNSType {
	switch pod.Spec.DNSPolicy {
	case corev1.DNSNone:
		return podDNSNone
	case corev1.DNSClusterFirstWithHostNet:
		return podDNSCluster
	case corev1.DNSDefault:
		return podDNSHost
	case corev1.DNSClusterFirst, "":
		if pod.Spec.HostNetwork {
			return podDNSHost
		}
	}
	return podDNSCluster
}

// podDNS is the pod's resolver configuration per its dnsPolicy, with
// spec.dnsConfig merged in and the result cut to the resolvers' limits.
// warn receives each limit that cut something, as the kubelet's
// DNSConfigForming and MissingClusterDNS events.
func (b *Builder) podDNS(pod *corev1.Pod, warn func(reason, msg string)) (*runtimeapi.DNSConfig, error) {
	var cfg *runtimeapi.DNSConfig
	typ := dnsType(pod)
	if typ == podDNSCluster && len(b.cfg.ClusterDNS) == 0 {
		warn("MissingClusterDNS", fmt.Sprintf("pod: %q. kubelet does not have ClusterDNS IP configured and cannot create Pod using %q policy. Falling back to %q policy.",
			pod.Name+"_"+pod.Namespace+"("+string(pod.UID)+")", corev1.DNSClusterFirst, corev1.DNSDefault))
		typ = podDNSHost
	}
	switch typ {
	case podDNSNone:
		cfg = &runtimeapi.DNSConfig{}
	case podDNSCluster:
		// The cluster DNS server is the only nameserver: it forwards what
		// is not the cluster's to the node's upstreams. The host's search
		// domains follow the cluster's; its options do not apply.
		host, err := b.hostDNS()
		if err != nil {
			return nil, err
		}
		cfg = &runtimeapi.DNSConfig{
			Servers:  slices.Clone(b.cfg.ClusterDNS),
			Searches: dedup(append(clusterSearches(pod.Namespace, b.clusterDomain()), host.Searches...)),
			Options:  []string{defaultNdots},
		}
	case podDNSHost:
		host, err := b.hostDNS()
		if err != nil {
			return nil, err
		}
		cfg = host
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		cfg.Servers = dedup(append(cfg.Servers, dc.Nameservers...))
		cfg.Searches = dedup(append(cfg.Searches, dc.Searches...))
		cfg.Options = mergeOptions(cfg.Options, dc.Options)
	}
	cfg.Servers = fitNameservers(cfg.Servers, warn)
	cfg.Searches = fitSearches(cfg.Searches, warn)
	return cfg, nil
}

// clusterSearches are the search domains that make a Service's short name
// resolve: NS.svc.DOMAIN, svc.DOMAIN, DOMAIN.
func clusterSearches(ns, domain string) []string {
	return []string{ns + ".svc." + domain, "svc." + domain, domain}
}

// hostDNS reads the node's resolver configuration: Config.ResolvConf, or
// by default /etc/resolv.conf — unless that names only loopback
// nameservers (systemd-resolved's stub at 127.0.0.53), which a pod
// cannot reach, and systemd-resolved's own file with the real upstreams
// exists (the file kubeadm and k3s point the kubelet at).
func (b *Builder) hostDNS() (*runtimeapi.DNSConfig, error) {
	path := b.cfg.ResolvConf
	if path == "" {
		path = hostResolvConf
	}
	data, err := readAtMost(path, maxResolvConfSize)
	if err != nil {
		return nil, fmt.Errorf("read the node's resolv.conf: %w", err)
	}
	cfg, err := parseResolvConf(data)
	if err != nil {
		return nil, fmt.Errorf("parse the node's resolv.conf %s: %w", path, err)
	}
	if b.cfg.ResolvConf == "" && onlyLoopback(cfg.Servers) {
		if data, err := readAtMost(resolvedResolvConf, maxResolvConfSize); err == nil {
			if alt, err := parseResolvConf(data); err == nil && len(alt.Servers) > 0 && !onlyLoopback(alt.Servers) {
				return alt, nil
			}
		}
	}
	return cfg, nil
}

func onlyLoopback(servers []string) bool {
	for _, s := range servers {
		if a, err := netip.ParseAddr(s); err != nil || !a.IsLoopback() {
			return false
		}
	}
	return len(servers) > 0
}

func readAtMost(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// parseResolvConf reads a resolv.conf as the kubelet does: nameserver
// lines accumulate, the last search line wins (trailing dots dropped, "."
// ignored, so a domain is counted once against the limits), options
// accumulate with a later option replacing an earlier one of its name.
// "domain" and other keywords are not carried over. A nameserver line
// without an address is an error.
func parseResolvConf(data []byte) (*runtimeapi.DNSConfig, error) {
	cfg := &runtimeapi.DNSConfig{}
	var errs []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if len(fields) < 2 {
				errs = append(errs, "nameserver list is empty")
				continue
			}
			cfg.Servers = append(cfg.Servers, fields[1])
		case "search":
			cfg.Searches = nil
			for _, s := range fields[1:] {
				if s != "." {
					cfg.Searches = append(cfg.Searches, strings.TrimSuffix(s, "."))
				}
			}
		case "options":
			cfg.Options = appendOptions(cfg.Options, fields[1:]...)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return cfg, nil
}

// optionName is the name of a resolv.conf option: "ndots" of "ndots:5".
func optionName(o string) string {
	name, _, _ := strings.Cut(o, ":")
	return name
}

// appendOptions adds options, each replacing an earlier one of its name
// in place. (The kubelet goes through a map, so its order is random; an
// option's place does not change its meaning.)
func appendOptions(opts []string, more ...string) []string {
	for _, o := range more {
		if i := slices.IndexFunc(opts, func(e string) bool { return optionName(e) == optionName(o) }); i >= 0 {
			opts[i] = o
			continue
		}
		opts = append(opts, o)
	}
	return opts
}

// mergeOptions merges spec.dnsConfig's options into opts, a pod's option
// overriding the one of its name; an option without a value is written
// as its bare name.
func mergeOptions(opts []string, pod []corev1.PodDNSConfigOption) []string {
	more := make([]string, 0, len(pod))
	for _, o := range pod {
		s := o.Name
		if o.Value != nil && *o.Value != "" {
			s += ":" + *o.Value
		}
		more = append(more, s)
	}
	return appendOptions(slices.Clone(opts), more...)
}

// dedup drops repeated entries, keeping the first.
func dedup(l []string) []string {
	seen := make(map[string]bool, len(l))
	out := l[:0:0]
	for _, s := range l {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// fitNameservers keeps the first three nameservers, as many as the
// resolvers read.
func fitNameservers(servers []string, warn func(reason, msg string)) []string {
	if len(servers) <= maxDNSNameservers {
		return servers
	}
	servers = servers[:maxDNSNameservers]
	warn("DNSConfigForming", "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: "+strings.Join(servers, " "))
	return servers
}

// fitSearches cuts the search list to 32 domains, drops any domain
// longer than a DNS name (glibc 2.28 aborts on one), and drops domains
// from the end until the line fits 2048 characters.
func fitSearches(searches []string, warn func(reason, msg string)) []string {
	cut := false
	if len(searches) > maxDNSSearchPaths {
		searches, cut = searches[:maxDNSSearchPaths], true
	}
	kept := searches[:0:0]
	for _, s := range searches {
		if len(s) > utilvalidation.DNS1123SubdomainMaxLength {
			cut = true
			continue
		}
		kept = append(kept, s)
	}
	searches = kept
	for len(searches) > 0 && len(strings.Join(searches, " ")) > maxDNSSearchListChars {
		searches, cut = searches[:len(searches)-1], true
	}
	if cut {
		warn("DNSConfigForming", "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: "+strings.Join(searches, " "))
	}
	return searches
}
