package containers

import (
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestManagedHostsFile(t *testing.T) {
	got := string(managedHostsFile("10.42.0.7", "web-0", "web.ns.svc.cluster.local",
		[]corev1.HostAlias{{IP: "1.2.3.4", Hostnames: []string{"foo.local", "bar.local"}}}))
	want := "# Kubernetes-managed hosts file.\n" +
		"127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\n" +
		"fe00::0\tip6-mcastprefix\n" +
		"fe00::1\tip6-allnodes\n" +
		"fe00::2\tip6-allrouters\n" +
		"10.42.0.7\tweb-0.web.ns.svc.cluster.local\tweb-0\n" +
		"\n# Entries added by HostAliases.\n" +
		"1.2.3.4\tfoo.local\tbar.local\n"
	if got != want {
		t.Errorf("managed hosts file:\n%s\nwant:\n%s", got, want)
	}
	if got := string(managedHostsFile("10.42.0.8", "solo", "", nil)); !strings.HasSuffix(got, "fe00::2\tip6-allrouters\n10.42.0.8\tsolo\n") {
		t.Errorf("without a domain or aliases:\n%s", got)
	}
	if got := string(hostNetworkHostsFile([]byte("127.0.0.1 localhost\n"), nil)); got != "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n" {
		t.Errorf("host network file:\n%s", got)
	}
}

func TestEtcHostsMountSkipsOwnMount(t *testing.T) {
	b := New(Config{DataDir: t.TempDir()})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"}}
	own := &corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{{Name: "h", MountPath: "/etc/hosts"}}}
	if m, err := b.etcHostsMount(pod, own, "10.0.0.1"); err != nil || m != nil {
		t.Errorf("container mounting /etc/hosts itself got %v, %v", m, err)
	}
	if m, err := b.etcHostsMount(pod, &corev1.Container{Name: "c"}, ""); err != nil || m != nil {
		t.Errorf("pod without an address got %v, %v", m, err)
	}
	m, err := b.etcHostsMount(pod, &corev1.Container{Name: "c"}, "10.0.0.1")
	if err != nil || m == nil || m.ContainerPath != "/etc/hosts" {
		t.Fatalf("got %v, %v", m, err)
	}
	content, err := os.ReadFile(m.HostPath)
	if err != nil || !strings.Contains(string(content), "10.0.0.1\tp\n") {
		t.Errorf("hosts file %q, %v", content, err)
	}
}

// Every attempt gets a fresh, empty message file that any user in the
// container may write.
func TestTerminationMessageMount(t *testing.T) {
	b := New(Config{DataDir: t.TempDir()})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"}}
	c := &corev1.Container{Name: "c", TerminationMessagePath: "/dev/termination-log"}
	m, err := b.terminationMessageMount(pod, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(m.HostPath); err != nil || fi.Mode().Perm() != 0o666 || m.ContainerPath != "/dev/termination-log" {
		t.Fatalf("message file %v, %v, mounted at %q", fi, err, m.ContainerPath)
	}
	if err := os.WriteFile(m.HostPath, []byte("DONE"), 0o666); err != nil {
		t.Fatal(err)
	}
	next, err := b.terminationMessageMount(pod, c, 1)
	if err != nil || next.HostPath == m.HostPath {
		t.Fatalf("attempt 1 shares attempt 0's file: %v, %v", next, err)
	}
	if content, err := os.ReadFile(next.HostPath); err != nil || len(content) != 0 {
		t.Fatalf("new attempt's file %q, %v", content, err)
	}
	if m, err := b.terminationMessageMount(pod, &corev1.Container{Name: "none"}, 0); m != nil || err != nil {
		t.Fatalf("no terminationMessagePath: %v, %v", m, err)
	}
}
