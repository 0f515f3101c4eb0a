package containers

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestHostnameAndDomain(t *testing.T) {
	b := New(Config{ClusterDomain: "example.test"})
	long := strings.Repeat("a", 60) + "-b-" + strings.Repeat("c", 20)
	for _, tc := range []struct {
		name, hostname, subdomain string
		want, wantDomain, err     string
	}{
		{name: "web", want: "web"},
		{name: "web", hostname: "db-0", want: "db-0"},
		{name: "web", hostname: "db-0", subdomain: "db", want: "db-0", wantDomain: "db.ns.svc.example.test"},
		{name: long, want: strings.Repeat("a", 60) + "-b"},
		{name: strings.Repeat("a", 62) + "-xyz", want: strings.Repeat("a", 62)},
		{name: strings.Repeat("a", 61) + ".-xyz", want: strings.Repeat("a", 61)},
		{name: "p", hostname: strings.Repeat("h", 70), err: `pod Hostname "` + strings.Repeat("h", 70) + `" is not a valid DNS label: must be no more than 63 characters`},
		{name: "p", hostname: "Upper", err: `pod Hostname "Upper" is not a valid DNS label`},
		{name: "p", subdomain: "a.b", err: `pod Subdomain "a.b" is not a valid DNS label`},
	} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.name, Namespace: "ns"}, Spec: corev1.PodSpec{Hostname: tc.hostname, Subdomain: tc.subdomain}}
		got, domain, err := b.hostnameAndDomain(pod)
		if tc.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Errorf("name %q hostname %q subdomain %q: error %v, want %q", tc.name, tc.hostname, tc.subdomain, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || domain != tc.wantDomain {
			t.Errorf("name %q hostname %q subdomain %q = %q, %q, %v; want %q, %q", tc.name, tc.hostname, tc.subdomain, got, domain, err, tc.want, tc.wantDomain)
		}
		if len(got) > maxHostnameLen {
			t.Errorf("hostname for %q longer than %d", tc.name, maxHostnameLen)
		}
	}
}

// setHostnameAsFQDN makes the sandbox's host name the pod's FQDN when it
// has a subdomain, and fails the sandbox when that exceeds the kernel's 64
// characters; /etc/hosts keeps the short name first.
func TestSandboxHostnameAsFQDN(t *testing.T) {
	b := New(Config{DataDir: t.TempDir(), ClusterDNS: []string{"10.43.0.10"}, ClusterDomain: "cluster.local", ResolvConf: writeResolvConf(t, "nameserver 192.0.2.53\n")})
	yes := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "ns", UID: "u1"},
		Spec:       corev1.PodSpec{Subdomain: "web", SetHostnameAsFQDN: &yes, Containers: []corev1.Container{{Name: "c"}}},
	}
	cfg, err := b.Sandbox(pod, 0)
	if err != nil || cfg.Hostname != "web-0.web.ns.svc.cluster.local" {
		t.Fatalf("sandbox hostname %q, %v", cfg.GetHostname(), err)
	}
	pod.Spec.SetHostnameAsFQDN = nil
	if cfg, err := b.Sandbox(pod, 0); err != nil || cfg.Hostname != "web-0" {
		t.Fatalf("without setHostnameAsFQDN: %q, %v", cfg.GetHostname(), err)
	}
	pod.Spec.SetHostnameAsFQDN = &yes
	pod.Spec.Subdomain = ""
	if cfg, err := b.Sandbox(pod, 0); err != nil || cfg.Hostname != "web-0" {
		t.Fatalf("setHostnameAsFQDN without a subdomain: %q, %v", cfg.GetHostname(), err)
	}
	// 30 + 1 + 6 + 1 + 2 + 1 + 3 + 1 + 13 = 58 fits; 7 more characters do not.
	pod.Spec.Hostname, pod.Spec.Subdomain = strings.Repeat("h", 30), "sub123"
	if cfg, err := b.Sandbox(pod, 0); err != nil || len(cfg.Hostname) != 58 {
		t.Fatalf("58-character FQDN: %q, %v", cfg.GetHostname(), err)
	}
	pod.Spec.Hostname = strings.Repeat("h", 37)
	_, err = b.Sandbox(pod, 0)
	want := "failed to construct FQDN from pod hostname and cluster domain, FQDN " + strings.Repeat("h", 37) + ".sub123.ns.svc.cluster.local is too long (64 characters is the max, 65 characters requested)"
	if err == nil || err.Error() != want {
		t.Fatalf("65-character FQDN: %v, want %q", err, want)
	}
	m, err := b.etcHostsMount(pod, &pod.Spec.Containers[0], "10.42.0.9")
	if err != nil {
		t.Fatal(err)
	}
	if hosts := readFile(t, m.HostPath); !strings.HasSuffix(hosts, "10.42.0.9\t"+strings.Repeat("h", 37)+".sub123.ns.svc.cluster.local\t"+strings.Repeat("h", 37)+"\n") {
		t.Fatalf("hosts file:\n%s", hosts)
	}
}
