package containers

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

func writeResolvConf(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// events records what a Builder warns about.
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) Event(_ context.Context, pod *corev1.Pod, typ, reason, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, pod.Name+" "+typ+" "+reason+": "+msg)
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

const nodeResolvConf = `# the node's
nameserver 192.0.2.53
nameserver 192.0.2.54
search corp.example. old.example
search corp.example. lab.example .
options timeout:2 ndots:2
options attempts:3 timeout:1
domain ignored.example
`

func TestPodDNSPerPolicy(t *testing.T) {
	b := New(Config{ClusterDNS: []string{"10.43.0.10"}, ClusterDomain: "cluster.local", ResolvConf: writeResolvConf(t, nodeResolvConf)})
	host := &runtimeapi.DNSConfig{
		Servers:  []string{"192.0.2.53", "192.0.2.54"},
		Searches: []string{"corp.example", "lab.example"},
		Options:  []string{"timeout:1", "ndots:2", "attempts:3"},
	}
	cluster := &runtimeapi.DNSConfig{
		Servers:  []string{"10.43.0.10"},
		Searches: []string{"web.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example", "lab.example"},
		Options:  []string{"ndots:5"},
	}
	for _, tc := range []struct {
		name        string
		policy      corev1.DNSPolicy
		hostNetwork bool
		dnsConfig   *corev1.PodDNSConfig
		want        *runtimeapi.DNSConfig
	}{
		{name: "default policy is ClusterFirst", want: cluster},
		{name: "ClusterFirst", policy: corev1.DNSClusterFirst, want: cluster},
		{name: "ClusterFirst on the host network is Default", policy: corev1.DNSClusterFirst, hostNetwork: true, want: host},
		{name: "ClusterFirstWithHostNet", policy: corev1.DNSClusterFirstWithHostNet, hostNetwork: true, want: cluster},
		{name: "ClusterFirstWithHostNet off the host network", policy: corev1.DNSClusterFirstWithHostNet, want: cluster},
		{name: "Default", policy: corev1.DNSDefault, want: host},
		{name: "None", policy: corev1.DNSNone, dnsConfig: &corev1.PodDNSConfig{
			Nameservers: []string{"1.1.1.1"}, Searches: []string{"a.example"},
			Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("1")}, {Name: "edns0"}},
		}, want: &runtimeapi.DNSConfig{Servers: []string{"1.1.1.1"}, Searches: []string{"a.example"}, Options: []string{"ndots:1", "edns0"}}},
		{name: "ClusterFirst merges dnsConfig", policy: corev1.DNSClusterFirst, dnsConfig: &corev1.PodDNSConfig{
			Nameservers: []string{"10.43.0.10", "1.1.1.1"}, Searches: []string{"svc.cluster.local", "extra.example"},
			Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "single-request"}, {Name: "edns0", Value: ptr.To("")}},
		}, want: &runtimeapi.DNSConfig{
			Servers:  []string{"10.43.0.10", "1.1.1.1"},
			Searches: append(append([]string(nil), cluster.Searches...), "extra.example"),
			Options:  []string{"ndots:2", "single-request", "edns0"},
		}},
		{name: "Default merges dnsConfig", policy: corev1.DNSDefault, dnsConfig: &corev1.PodDNSConfig{
			Options: []corev1.PodDNSConfigOption{{Name: "timeout", Value: ptr.To("5")}},
		}, want: &runtimeapi.DNSConfig{Servers: host.Servers, Searches: host.Searches, Options: []string{"timeout:5", "ndots:2", "attempts:3"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "web"},
				Spec: corev1.PodSpec{DNSPolicy: tc.policy, HostNetwork: tc.hostNetwork, DNSConfig: tc.dnsConfig}}
			got, err := b.podDNS(pod, func(reason, msg string) { t.Errorf("warning %s: %s", reason, msg) })
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Servers, tc.want.Servers) || !reflect.DeepEqual(got.Searches, tc.want.Searches) || !reflect.DeepEqual(got.Options, tc.want.Options) {
				t.Fatalf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

// The composed configuration is cut to the resolvers' limits with one
// warning Event per pod and message, however often the sandbox config is
// built.
func TestPodDNSLimits(t *testing.T) {
	ev := &events{}
	b := New(Config{ClusterDNS: []string{"10.43.0.10"}, ClusterDomain: "cluster.local", Events: ev,
		ResolvConf: writeResolvConf(t, "nameserver 192.0.2.53\nnameserver 192.0.2.54\nnameserver 192.0.2.55\n")})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"},
		Spec: corev1.PodSpec{DNSPolicy: corev1.DNSDefault, DNSConfig: &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}}}}
	for range 3 {
		cfg, err := b.Sandbox(pod, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cfg.DnsConfig.Servers, []string{"192.0.2.53", "192.0.2.54", "192.0.2.55"}) {
			t.Fatalf("servers %v", cfg.DnsConfig.Servers)
		}
	}
	if got := ev.list(); !reflect.DeepEqual(got, []string{"p Warning DNSConfigForming: Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 192.0.2.53 192.0.2.54 192.0.2.55"}) {
		t.Fatalf("events %q", got)
	}

	var warnings []string
	warn := func(reason, msg string) { warnings = append(warnings, reason+": "+msg) }
	var many []string
	for i := range 40 {
		many = append(many, strings.Repeat("x", 10)+string(rune('a'+i%26))+strings.Repeat("y", i/26)+".example")
	}
	got := fitSearches(append([]string(nil), many...), warn)
	if !reflect.DeepEqual(got, many[:32]) || len(warnings) != 1 || !strings.HasPrefix(warnings[0], "DNSConfigForming: Search Line limits were exceeded, some search paths have been omitted, the applied search line is: "+many[0]+" ") {
		t.Fatalf("32 of 40 domains: %v, warnings %q", got, warnings)
	}
	warnings = nil
	tooLong := strings.Repeat("a.", 127) // 254 characters: longer than any DNS name
	if got := fitSearches([]string{"ok.example", tooLong, "fine.example"}, warn); !reflect.DeepEqual(got, []string{"ok.example", "fine.example"}) || len(warnings) != 1 {
		t.Fatalf("a domain over 253 characters: %v, warnings %q", got, warnings)
	}
	// Eleven domains of 199 characters make a 2199-character line: the
	// last one goes (1999 characters), as with the kubelet.
	warnings = nil
	var wide []string
	for i := range 11 {
		wide = append(wide, strings.Repeat(string(rune('a'+i)), 191)+".example")
	}
	if got := fitSearches(append([]string(nil), wide...), warn); !reflect.DeepEqual(got, wide[:10]) || len(warnings) != 1 {
		t.Fatalf("2048-character line: %d domains, warnings %q", len(got), warnings)
	}
	warnings = nil
	if got := fitSearches(wide[:10], warn); len(got) != 10 || warnings != nil {
		t.Fatalf("a line of 1999 characters was cut: %d domains, warnings %q", len(got), warnings)
	}
}

// Without a cluster DNS address a ClusterFirst pod gets the node's
// resolv.conf, with the kubelet's MissingClusterDNS warning.
func TestPodDNSWithoutClusterDNS(t *testing.T) {
	ev := &events{}
	b := New(Config{Events: ev, ResolvConf: writeResolvConf(t, "nameserver 192.0.2.53\nsearch corp.example\n")})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"}}
	cfg, err := b.podDNS(pod, b.warner(pod))
	if err != nil || !reflect.DeepEqual(cfg.Servers, []string{"192.0.2.53"}) || !reflect.DeepEqual(cfg.Searches, []string{"corp.example"}) {
		t.Fatalf("got %v, %v", cfg, err)
	}
	want := `p Warning MissingClusterDNS: pod: "p_ns(u1)". kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.`
	if got := ev.list(); len(got) != 1 || got[0] != want {
		t.Fatalf("events %q", got)
	}
}

func TestParseResolvConf(t *testing.T) {
	cfg, err := parseResolvConf([]byte(nodeResolvConf))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Servers, []string{"192.0.2.53", "192.0.2.54"}) || !reflect.DeepEqual(cfg.Searches, []string{"corp.example", "lab.example"}) ||
		!reflect.DeepEqual(cfg.Options, []string{"timeout:1", "ndots:2", "attempts:3"}) {
		t.Fatalf("parsed %v", cfg)
	}
	if _, err := parseResolvConf([]byte("nameserver\n")); err == nil || !strings.Contains(err.Error(), "nameserver list is empty") {
		t.Fatalf("a nameserver line without an address: %v", err)
	}
	b := New(Config{ResolvConf: filepath.Join(t.TempDir(), "missing")})
	if _, err := b.podDNS(&corev1.Pod{Spec: corev1.PodSpec{DNSPolicy: corev1.DNSDefault}}, nil); err == nil || !strings.Contains(err.Error(), "read the node's resolv.conf") {
		t.Fatalf("a missing resolv.conf: %v", err)
	}
	// None reads nothing of the node.
	if cfg, err := b.podDNS(&corev1.Pod{Spec: corev1.PodSpec{DNSPolicy: corev1.DNSNone, DNSConfig: &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}}}}, nil); err != nil || len(cfg.Servers) != 1 {
		t.Fatalf("None with a missing resolv.conf: %v, %v", cfg, err)
	}
}

func TestOnlyLoopback(t *testing.T) {
	for servers, want := range map[string]bool{"127.0.0.53": true, "127.0.0.53 ::1": true, "127.0.0.53 192.0.2.1": false, "": false, "not-an-ip": false} {
		if got := onlyLoopback(strings.Fields(servers)); got != want {
			t.Errorf("onlyLoopback(%q) = %v", servers, got)
		}
	}
}
