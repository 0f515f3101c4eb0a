package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/pkg/proxy/nettest"
)

// The machines of TestPodNetworkAcrossMachines, each a network namespace
// of the test's own: a and b share the subnet 10.251.0.0/24 (a bridge in
// the router namespace), c is on 10.252.0.0/24 behind the router, which
// also holds mnOutsideIP, an address outside the cluster. The server and
// the first agent run on a; b and c join it.
const (
	mnServerIP  = "10.251.0.1"
	mnOutsideIP = "203.0.113.1"
)

type mnHost struct {
	name string // the node's name
	ip   string
	ns   *nettest.NS
	dir  string // data dir
	cmd  *exec.Cmd
	log  *os.File
}

// mnCluster is the server on host a and the agents of b and c.
type mnCluster struct {
	t          *testing.T
	dir        string
	router     *nettest.NS
	hosts      []*mnHost // a, b, c
	kubeconfig string
	home       string
}

func (mc *mnCluster) host(name string) *mnHost {
	for _, h := range mc.hosts {
		if h.name == name {
			return h
		}
	}
	mc.t.Fatalf("no host %s", name)
	return nil
}

// mnPrerequisites fails the test with the reason when the machine lacks
// what three nodes in network namespaces need.
func mnPrerequisites(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: it creates network namespaces and runs node agents")
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
}

func startMultiNode(t *testing.T) *mnCluster {
	t.Helper()
	mnPrerequisites(t)
	dir, err := os.MkdirTemp("/tmp", "flmn-") // short: containerd's socket path must fit 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	mc := &mnCluster{t: t, dir: dir, home: filepath.Join(dir, "home")}
	t.Cleanup(mc.cleanup)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	if mc.router, err = nettest.NewNS("flmn-router"); err != nil {
		t.Fatal(err)
	}
	r := mc.router
	must(r.Sysctl("net.ipv4.ip_forward", "1"))
	must(r.IP("link", "add", "lan", "type", "bridge"))
	must(r.IP("addr", "add", "10.251.0.254/24", "dev", "lan"))
	must(r.IP("link", "set", "lan", "up"))
	must(r.IP("addr", "add", mnOutsideIP+"/32", "dev", "lo"))
	// The kernel must make VXLAN devices, which the agents need for c.
	if err := r.IP("link", "add", "vxprobe", "type", "vxlan", "id", "42", "dstport", "8472", "nolearning"); err != nil {
		t.Fatalf("this kernel makes no VXLAN device (module vxlan): %v", err)
	}
	must(r.IP("link", "del", "vxprobe"))
	for _, spec := range []struct{ name, ip string }{{"mn-a", mnServerIP}, {"mn-b", "10.251.0.2"}, {"mn-c", "10.252.0.3"}} {
		ns, err := nettest.NewNS("flmn-" + spec.name)
		if err != nil {
			t.Fatal(err)
		}
		h := &mnHost{name: spec.name, ip: spec.ip, ns: ns, dir: filepath.Join(dir, spec.name)}
		mc.hosts = append(mc.hosts, h)
		port := "to-" + strings.TrimPrefix(spec.name, "mn-")
		if spec.name == "mn-c" {
			must(nettest.Veth(r, port, "10.252.0.254/24", ns, "eth0", spec.ip+"/24"))
			must(ns.IP("route", "add", "default", "via", "10.252.0.254"))
		} else {
			must(nettest.Veth(r, port, "", ns, "eth0", spec.ip+"/24"))
			must(r.IP("link", "set", port, "master", "lan"))
			must(ns.IP("route", "add", "default", "via", "10.251.0.254"))
		}
	}

	// The server with its own agent on a, bound to a's address (its
	// serving certificate names it) with fixed ports: the namespace is
	// the test's alone.
	a := mc.hosts[0]
	common := []string{"--node-name", a.name, "--node-ip", a.ip, "--flannel-direct-routing"}
	mc.spawn(a, append([]string{"server", "--eviction-hard", testEvictionHard, "--data-dir", a.dir, "--bind-address", mnServerIP, "--https-listen-port", "6443",
		"--etcd-client-port", "2379", "--etcd-peer-port", "2380", "--node-monitor-grace-period", "20s"}, common...)...)
	mc.kubeconfig = filepath.Join(a.dir, "kubeconfig.yaml")
	mc.eventually("the server answers", 60*time.Second, func() (bool, string) {
		if _, err := os.Stat(mc.kubeconfig); err != nil {
			return false, err.Error()
		}
		r := mc.kubectl("", "get", "--raw", "/readyz")
		return r.code == 0, r.String()
	})
	for _, h := range mc.hosts[1:] {
		mc.spawn(h, "agent", "--eviction-hard", testEvictionHard, "--server", "https://"+mnServerIP+":6443", "--token-file", filepath.Join(a.dir, "token"),
			"--data-dir", h.dir, "--node-name", h.name, "--node-ip", h.ip, "--flannel-direct-routing")
	}
	mc.eventually("three nodes Ready", 90*time.Second, func() (bool, string) {
		out := mc.kubectl("", "get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}`).stdout
		return strings.Count(out, "=True") == 3, out
	})
	return mc
}

// spawn starts `flotilla args...` inside h's namespace.
func (mc *mnCluster) spawn(h *mnHost, args ...string) {
	mc.t.Helper()
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		mc.t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(mc.dir, h.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		mc.t.Fatal(err)
	}
	h.log = logf
	h.cmd = exec.Command("nsenter", append([]string{"--net=" + h.ns.Path, "--", cluster.bin}, args...)...)
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	if err := h.cmd.Start(); err != nil {
		mc.t.Fatal(err)
	}
}

// kubectl runs the stock kubectl inside a's namespace, where the server is.
func (mc *mnCluster) kubectl(stdin string, args ...string) result {
	mc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + mc.hosts[0].ns.Path, "--", "kubectl"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+mc.kubeconfig, "HOME="+mc.home)
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
		mc.t.Fatalf("kubectl %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func (mc *mnCluster) ok(stdin string, args ...string) string {
	mc.t.Helper()
	r := mc.kubectl(stdin, args...)
	if r.code != 0 {
		mc.t.Fatalf("kubectl %v: %s", args, r)
	}
	return r.stdout
}

func (mc *mnCluster) eventually(what string, timeout time.Duration, cond func() (bool, string)) {
	mc.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			mc.t.Fatalf("%s: not within %v; last: %s", what, timeout, state)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// execUntil runs a command in a pod until its output holds want.
func (mc *mnCluster) execUntil(what, pod, want string, timeout time.Duration, cmd ...string) string {
	mc.t.Helper()
	var out string
	mc.eventually(what, timeout, func() (bool, string) {
		r := mc.kubectl("", append([]string{"exec", pod, "--"}, cmd...)...)
		out = r.stdout
		return r.code == 0 && strings.Contains(r.stdout, want), r.String()
	})
	return out
}

func (mc *mnCluster) cleanup() {
	t := mc.t
	if len(mc.hosts) > 0 && mc.hosts[0].cmd != nil {
		// Pods first, through the API while every agent is up; then
		// whatever is left in each containerd (a node that never came
		// back), so no sandbox outlives the test.
		deleteWorkloads(mc.kubectl)
	}
	for _, h := range mc.hosts {
		if h.cmd == nil {
			continue
		}
		removeSandboxes(t, filepath.Join(h.dir, "agent", "containerd"))
	}
	for i := len(mc.hosts) - 1; i >= 0; i-- { // the server last
		h := mc.hosts[i]
		if h.cmd != nil {
			interruptAndWait(h.cmd, 30*time.Second)
			h.log.Close()
		}
		_ = exec.Command("umount", "-R", filepath.Join(h.dir, "agent", "containerd")).Run()
		reviewLog(t, h.name, filepath.Join(mc.dir, h.name+".log"), 40)
	}
	for _, h := range mc.hosts {
		if err := h.ns.Delete(); err != nil {
			t.Error(err)
		}
	}
	if mc.router != nil {
		if err := mc.router.Delete(); err != nil {
			t.Error(err)
		}
	}
	_ = os.RemoveAll(mc.dir)
}

// mnWorkload: an httpd on b and on c answering /cgi-bin/ip with its
// name and the client address it saw, a client pod on a, a Service whose
// only endpoint is on b and a headless Service over both servers.
const mnWorkload = `apiVersion: v1
kind: ConfigMap
metadata: {name: whoami}
data:
  ip: |
    #!/bin/sh
    echo "Content-Type: text/plain"
    echo
    echo "$(hostname) $REMOTE_ADDR"
---
apiVersion: v1
kind: Service
metadata: {name: svc-b}
spec:
  selector: {host: b}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client-a}
spec:
  nodeName: mn-a
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
`

func mnWebPod(name, node, host string) string {
	return fmt.Sprintf(`---
apiVersion: v1
kind: Pod
metadata: {name: %s, labels: {app: web, host: %s}}
spec:
  nodeName: %s
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    volumeMounts: [{name: cgi, mountPath: /www/cgi-bin}]
  volumes:
  - name: cgi
    configMap: {name: whoami, defaultMode: 0755}
`, name, host, node)
}

// Three machines (network namespaces with their own agents, containerds
// and pod ranges) make one pod network: pods reach pods on the other
// machines by address, Services whose endpoints are elsewhere, and each
// other by DNS name; what leaves the cluster is masqueraded; a machine
// lost takes its endpoints out of the Services.
func TestPodNetworkAcrossMachines(t *testing.T) {
	t.Parallel()
	start := time.Now()
	mc := startMultiNode(t)
	t.Logf("cluster of three nodes Ready after %v", time.Since(start).Round(time.Second))
	a, b, c := mc.host("mn-a"), mc.host("mn-b"), mc.host("mn-c")

	// An HTTP server outside the cluster, in the router, answering with
	// the client address it sees.
	ln, err := mc.router.Listen("tcp4", mnOutsideIP+":8080")
	if err != nil {
		t.Fatal(err)
	}
	outside := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintf(w, "outside saw %s\n", host)
	})}
	go func() { _ = outside.Serve(ln) }()
	defer outside.Close()

	mc.ok(mnWorkload+mnWebPod("web-b", "mn-b", "b")+mnWebPod("web-c", "mn-c", "c"), "apply", "-f", "-")
	mc.eventually("pods Running", 90*time.Second, func() (bool, string) {
		out := mc.kubectl("", "get", "pods", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.phase} {end}`).stdout
		return strings.Count(out, "=Running") == 3, out
	})
	t.Logf("pods Running after %v", time.Since(start).Round(time.Second))

	// Each node has its own range, and its pods' addresses come from it.
	podIP := map[string]string{}
	for pod, node := range map[string]string{"client-a": "mn-a", "web-b": "mn-b", "web-c": "mn-c"} {
		cidr := netip.MustParsePrefix(mc.ok("", "get", "node", node, "-o", "jsonpath={.spec.podCIDR}"))
		ip := netip.MustParseAddr(mc.ok("", "get", "pod", pod, "-o", "jsonpath={.status.podIP}"))
		if !cidr.Contains(ip) {
			t.Fatalf("pod %s on %s has %s, outside the node's range %s", pod, node, ip, cidr)
		}
		podIP[pod] = ip.String()
	}
	cidrs := mc.ok("", "get", "nodes", "-o", `jsonpath={range .items[*]}{.spec.podCIDR} {end}`)
	if f := strings.Fields(cidrs); len(f) != 3 || f[0] == f[1] || f[1] == f[2] || f[0] == f[2] {
		t.Fatalf("the nodes' pod ranges are not three different ones: %q", cidrs)
	}
	// a and b share a subnet: a direct route; c is behind the router:
	// the VXLAN overlay.
	routes, err := a.ns.Exec("ip", "route", "show", "proto", "70")
	if err != nil {
		t.Fatal(err)
	}
	bRange := mc.ok("", "get", "node", "mn-b", "-o", "jsonpath={.spec.podCIDR}")
	cRange := mc.ok("", "get", "node", "mn-c", "-o", "jsonpath={.spec.podCIDR}")
	cNet := strings.TrimSuffix(cRange, "/24")
	for _, want := range []string{bRange + " via " + b.ip + " dev eth0", cRange + " via " + cNet + " dev flotilla.1 onlink"} {
		if !strings.Contains(routes, want) {
			t.Fatalf("a's routes lack %q:\n%s", want, routes)
		}
	}

	wget := func(url string) []string { return []string{"wget", "-qO-", "-T", "3", url} }
	// What the whoami CGI answers: the server pod's name and the client
	// address busybox httpd saw on its dual-stack socket.
	served := func(server, client string) string { return server + " [::ffff:" + client + "]" }
	// Pod to pod by address, on the direct route and through the overlay,
	// and from c to b through the overlay: the server sees the client
	// pod's own address.
	mc.execUntil("client-a -> web-b (direct route)", "client-a", served("web-b", podIP["client-a"]), 30*time.Second, wget("http://"+podIP["web-b"]+":8080/cgi-bin/ip")...)
	mc.execUntil("client-a -> web-c (vxlan)", "client-a", served("web-c", podIP["client-a"]), 30*time.Second, wget("http://"+podIP["web-c"]+":8080/cgi-bin/ip")...)
	mc.execUntil("web-c -> web-b (vxlan)", "web-c", served("web-b", podIP["web-c"]), 30*time.Second, wget("http://"+podIP["web-b"]+":8080/cgi-bin/ip")...)

	// A Service whose only endpoint is on another node, by ClusterIP from
	// a and by DNS name from c (each node's own DNS server answers).
	clusterIP := mc.ok("", "get", "service", "svc-b", "-o", "jsonpath={.spec.clusterIP}")
	mc.execUntil("client-a -> svc-b's ClusterIP", "client-a", served("web-b", podIP["client-a"]), 30*time.Second, wget("http://"+clusterIP+"/cgi-bin/ip")...)
	mc.execUntil("web-c -> svc-b by name", "web-c", served("web-b", podIP["web-c"]), 30*time.Second, wget("http://svc-b.default.svc.cluster.local/cgi-bin/ip")...)
	mc.execUntil("client-a -> svc-b by short name", "client-a", served("web-b", podIP["client-a"]), 30*time.Second, wget("http://svc-b/cgi-bin/ip")...)

	// The headless Service's name is its pods on the other nodes.
	out := mc.execUntil("headless name from a", "client-a", podIP["web-c"], 30*time.Second, "nslookup", "web.default.svc.cluster.local")
	if !strings.Contains(out, podIP["web-b"]) {
		t.Fatalf("the headless Service's name does not resolve to web-b's %s:\n%s", podIP["web-b"], out)
	}

	// Leaving the cluster: the outside sees the node's address.
	mc.execUntil("client-a -> outside", "client-a", "outside saw "+a.ip, 30*time.Second, wget("http://"+mnOutsideIP+":8080/")...)
	mc.execUntil("web-c -> outside", "web-c", "outside saw "+c.ip, 30*time.Second, wget("http://"+mnOutsideIP+":8080/")...)
	t.Logf("traffic checks done after %v", time.Since(start).Round(time.Second))

	// b is lost (its cable pulled): once its Lease is late by the grace
	// period it is NotReady, its pods are marked not ready and leave the
	// Services' ready endpoints, and the headless name is c's pod alone.
	if err := mc.router.IP("link", "set", "to-b", "down"); err != nil {
		t.Fatal(err)
	}
	mc.eventually("mn-b NotReady", 90*time.Second, func() (bool, string) {
		s := mc.ok("", "get", "node", "mn-b", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return s == "Unknown", s
	})
	readyEndpoints := func(svc string) string {
		return mc.ok("", "get", "endpointslices", "-l", "kubernetes.io/service-name="+svc, "-o",
			`jsonpath={range .items[*].endpoints[*]}{.addresses[0]}@{.nodeName}={.conditions.ready} {end}`)
	}
	mc.eventually("web-b no longer a ready endpoint", 60*time.Second, func() (bool, string) {
		svcB, web := readyEndpoints("svc-b"), readyEndpoints("web")
		return !strings.Contains(svcB, "=true") && !strings.Contains(web, podIP["web-b"]+"@mn-b=true") && strings.Contains(web, podIP["web-c"]+"@mn-c=true"), "svc-b: " + svcB + " web: " + web
	})
	mc.eventually("headless name without web-b", 30*time.Second, func() (bool, string) {
		r := mc.kubectl("", "exec", "client-a", "--", "nslookup", "web.default.svc.cluster.local")
		return r.code == 0 && strings.Contains(r.stdout, podIP["web-c"]) && !strings.Contains(r.stdout, podIP["web-b"]), r.String()
	})
	t.Logf("lost node's endpoints out after %v", time.Since(start).Round(time.Second))

	// The cable back: b is Ready again and web-b serves again, through its
	// Service too.
	if err := mc.router.IP("link", "set", "to-b", "up"); err != nil {
		t.Fatal(err)
	}
	mc.eventually("mn-b Ready again", 60*time.Second, func() (bool, string) {
		s := mc.ok("", "get", "node", "mn-b", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return s == "True", s
	})
	mc.execUntil("client-a -> svc-b after b came back", "client-a", served("web-b", podIP["client-a"]), 60*time.Second, wget("http://"+clusterIP+"/cgi-bin/ip")...)
	t.Logf("done after %v", time.Since(start).Round(time.Second))
}
