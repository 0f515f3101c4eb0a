package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/pkg/proxy/nettest"
)

// A one-node cluster whose node runs its Service proxy and DNS server:
// the server with its agent in a network namespace of the test's own, so
// the nftables rules, the pod bridge and the DNS address are the test's
// alone (a node in the machine's namespace may run neither beside another
// one). The node's address is on one end of a veth pair whose both ends
// are there; the server binds it, so pods reach the API server through
// the kubernetes Service.
const (
	svcNodeName = "svc-node"
	svcNodeIP   = "10.254.0.1"
)

type svcCluster struct {
	t          *testing.T
	ns         *nettest.NS
	dir        string
	kubeconfig string
	home       string
	cmd        *exec.Cmd
	log        *os.File
}

func startSvcCluster(t *testing.T) *svcCluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: it creates a network namespace and runs a node agent")
	}
	for _, tool := range []string{"ip", "nsenter", "containerd", "kubectl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (hack/install-deps.sh installs what the node needs): %v", tool, err)
		}
	}
	for _, f := range []string{"/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/bin/busybox"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s is missing (hack/install-deps.sh installs it): %v", f, err)
		}
	}
	dir, err := os.MkdirTemp("/tmp", "flsvc-") // short: containerd's socket path must fit 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	sc := &svcCluster{t: t, dir: dir, home: filepath.Join(dir, "home"), kubeconfig: filepath.Join(dir, "server", "kubeconfig.yaml")}
	t.Cleanup(sc.cleanup)
	if sc.ns, err = nettest.NewNS("flsvc"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"link", "add", "node0", "type", "veth", "peer", "name", "node1"},
		{"addr", "add", svcNodeIP + "/24", "dev", "node0"},
		{"link", "set", "node0", "up"},
		{"link", "set", "node1", "up"},
		{"route", "add", "default", "dev", "node0"},
	} {
		if err := sc.ns.IP(args...); err != nil {
			t.Fatal(err)
		}
	}
	if sc.log, err = os.Create(filepath.Join(dir, "server.log")); err != nil {
		t.Fatal(err)
	}
	// The namespace is the test's: fixed ports are free.
	sc.cmd = exec.Command("nsenter", "--net="+sc.ns.Path, "--", cluster.bin, "server", "--eviction-hard", testEvictionHard, "--data-dir", filepath.Join(dir, "server"),
		"--bind-address", svcNodeIP, "--node-ip", svcNodeIP, "--node-name", svcNodeName,
		"--https-listen-port", "6443", "--etcd-client-port", "2379", "--etcd-peer-port", "2380",
		// Short periods so the autoscaling walkthrough scales within a minute.
		"--metrics-resolution", "3s", "--horizontal-pod-autoscaler-sync-period", "3s")
	sc.cmd.Stdout, sc.cmd.Stderr = sc.log, sc.log
	if err := sc.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc.eventually("the node Ready", 90*time.Second, func() (bool, string) {
		if _, err := os.Stat(sc.kubeconfig); err != nil {
			return false, err.Error()
		}
		r := sc.kubectl("", "get", "node", svcNodeName)
		return r.code == 0 && regexp.MustCompile(`(?m)^`+svcNodeName+`\s+Ready\s`).MatchString(r.stdout), r.String()
	})
	// Pods resolve names once the node's DNS server is kube-dns's endpoint.
	sc.eventually("kube-dns has the node's DNS server", 60*time.Second, func() (bool, string) {
		r := sc.kubectl("", "get", "endpoints", "kube-dns", "-n", "kube-system", "-o", "jsonpath={.subsets[*].addresses[*].ip}")
		return r.code == 0 && strings.TrimSpace(r.stdout) != "", r.String()
	})
	return sc
}

// with is the cluster for subtest t: failures end t.
func (sc *svcCluster) with(t *testing.T) *svcCluster {
	c := *sc
	c.t = t
	return &c
}

// kubectl runs the stock kubectl inside the namespace, where the server is.
func (sc *svcCluster) kubectl(stdin string, args ...string) result {
	sc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + sc.ns.Path, "--", "kubectl"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+sc.kubeconfig, "HOME="+sc.home)
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		sc.t.Fatalf("kubectl %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func (sc *svcCluster) ok(stdin string, args ...string) string {
	sc.t.Helper()
	r := sc.kubectl(stdin, args...)
	if r.code != 0 {
		sc.t.Fatalf("kubectl %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

func (sc *svcCluster) eventually(what string, timeout time.Duration, cond func() (bool, string)) {
	sc.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			sc.t.Fatalf("%s: not within %v; last state:\n%s", what, timeout, state)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// namespace creates a namespace for one subtest.
func (sc *svcCluster) namespace(name string) string {
	sc.t.Helper()
	sc.ok("", "create", "namespace", name)
	return name
}

// logsWhenDone waits for a pod to succeed and returns its logs.
func (sc *svcCluster) logsWhenDone(ns, pod string) string {
	sc.t.Helper()
	sc.eventually("pod "+ns+"/"+pod+" Succeeded", 90*time.Second, func() (bool, string) {
		r := sc.kubectl("", "get", "pod", pod, "-n", ns, "-o", "jsonpath={.status.phase}")
		if r.stdout == "Failed" {
			sc.t.Fatalf("pod %s/%s failed: %s", ns, pod, sc.kubectl("", "logs", pod, "-n", ns).String())
		}
		return r.stdout == "Succeeded", sc.kubectl("", "get", "pod", pod, "-n", ns, "-o", "yaml").stdout
	})
	return sc.ok("", "logs", pod, "-n", ns)
}

// waitReady waits until the pods matched by selector (want of them) are
// all ready.
func (sc *svcCluster) waitReady(ns, selector string, want int) {
	sc.t.Helper()
	sc.eventually(fmt.Sprintf("%d ready pods %s in %s", want, selector, ns), 90*time.Second, func() (bool, string) {
		out := sc.kubectl("", "get", "pods", "-n", ns, "-l", selector, "-o", `jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status} {end}`).stdout
		return strings.Count(out, "True") == want && len(strings.Fields(out)) == want, sc.kubectl("", "get", "pods", "-n", ns, "-o", "wide").stdout
	})
}

func (sc *svcCluster) cleanup() {
	t := sc.t
	if sc.cmd != nil && sc.cmd.Process != nil {
		deleteWorkloads(sc.kubectl)
		removeSandboxes(t, filepath.Join(sc.dir, "server", "agent", "containerd"))
		interruptAndWait(sc.cmd, 30*time.Second)
	}
	if sc.log != nil {
		sc.log.Close()
	}
	svcUnmountUnder(t, sc.dir)
	reviewLog(t, "server", filepath.Join(sc.dir, "server.log"), 60)
	if sc.ns != nil {
		if err := sc.ns.Delete(); err != nil {
			t.Error(err)
		}
	}
	_ = os.RemoveAll(sc.dir)
}

// svcUnmountUnder unmounts what containerd mounted below dir (sandbox
// shm, container root filesystems), deepest first.
func svcUnmountUnder(t *testing.T, dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Logf("read mountinfo: %v", err)
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, p := range points {
		if out, err := exec.Command("umount", p).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", p, err, out)
		}
	}
}
