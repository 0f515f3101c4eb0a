package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
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
	a := &Agent{cfg: Config{DataDir: t.TempDir()}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"}}
	own := &corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{{Name: "h", MountPath: "/etc/hosts"}}}
	if m, err := a.etcHostsMount(pod, own, "10.0.0.1"); err != nil || m != nil {
		t.Errorf("container mounting /etc/hosts itself got %v, %v", m, err)
	}
	if m, err := a.etcHostsMount(pod, &corev1.Container{Name: "c"}, ""); err != nil || m != nil {
		t.Errorf("pod without an address got %v, %v", m, err)
	}
	m, err := a.etcHostsMount(pod, &corev1.Container{Name: "c"}, "10.0.0.1")
	if err != nil || m == nil || m.ContainerPath != "/etc/hosts" {
		t.Fatalf("got %v, %v", m, err)
	}
	b, err := os.ReadFile(m.HostPath)
	if err != nil || !strings.Contains(string(b), "10.0.0.1\tp\n") {
		t.Errorf("hosts file %q, %v", b, err)
	}
}

func TestTerminationMessage(t *testing.T) {
	dir := t.TempDir()
	a := &Agent{cfg: Config{DataDir: dir}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"}}
	c := &corev1.Container{Name: "c", TerminationMessagePath: "/dev/termination-log"}
	m, err := a.terminationMessageMount(pod, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(m.HostPath); err != nil || fi.Mode().Perm() != 0o666 {
		t.Fatalf("message file %v, %v", fi, err)
	}
	if err := os.WriteFile(m.HostPath, []byte("DONE"), 0o666); err != nil {
		t.Fatal(err)
	}
	exited := &runtimeapi.ContainerStatus{State: runtimeapi.ContainerState_CONTAINER_EXITED, ExitCode: 1,
		Mounts: []*runtimeapi.Mount{{ContainerPath: "/dev/termination-log", HostPath: m.HostPath}}}
	if got := terminationMessage(c, exited); got != "DONE" {
		t.Errorf("message from file = %q", got)
	}
	if st := containerState(c, exited); st.Terminated == nil || st.Terminated.Message != "DONE" {
		t.Errorf("state %+v", st)
	}

	// Empty file, FallbackToLogsOnError, failed: the log's end.
	if err := os.WriteFile(m.HostPath, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "0.log")
	log := "2026-01-01T00:00:00.000000000Z stdout F first\n2026-01-01T00:00:01.000000000Z stderr F second\n"
	if err := os.WriteFile(logPath, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	exited.LogPath = logPath
	if got := terminationMessage(c, exited); got != "" {
		t.Errorf("File policy fell back to logs: %q", got)
	}
	c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	if got := terminationMessage(c, exited); got != "first\nsecond\n" {
		t.Errorf("fallback = %q", got)
	}
	exited.ExitCode = 0
	if got := terminationMessage(c, exited); got != "" {
		t.Errorf("fallback on success = %q", got)
	}
}
