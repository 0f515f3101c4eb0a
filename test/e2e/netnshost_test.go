package e2e

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/flotilla-io/flotilla/pkg/proxy/nettest"
)

// nsHost is another machine for one test: a network namespace of the
// test's own, linked to this machine's namespace by a veth pair on a /30
// (this machine's end hostAddr, the namespace's eth0 addr, its default
// route). Processes started with command run there; the namespace has
// its own pod bridge, routes and rules, so a node agent in it never meets
// the agents of this machine's namespace.
type nsHost struct {
	t        *testing.T
	ns       *nettest.NS
	hostEnd  string // the veth end in this machine's namespace
	hostAddr string
	addr     string // the namespace's address
}

// newNSHost creates the namespace and its link; cleanup removes both.
// hostAddr and addr are the two usable addresses of a /30 that no other
// test uses.
func newNSHost(t *testing.T, prefix, hostAddr, addr string) *nsHost {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: it creates a network namespace and runs a node agent")
	}
	for _, tool := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (hack/install-deps.sh installs what the node needs): %v", tool, err)
		}
	}
	ns, err := nettest.NewNS(prefix)
	if err != nil {
		t.Fatal(err)
	}
	// Interface names hold 15 bytes: the pid keeps parallel test
	// binaries' ends apart.
	h := &nsHost{t: t, ns: ns, hostEnd: fmt.Sprintf("%.5s%d", prefix, os.Getpid()%1000000), hostAddr: hostAddr, addr: addr}
	t.Cleanup(h.delete)
	for _, args := range [][]string{
		{"link", "add", h.hostEnd, "type", "veth", "peer", "name", "eth0", "netns", ns.Name},
		{"addr", "add", hostAddr + "/30", "dev", h.hostEnd},
		{"link", "set", h.hostEnd, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	for _, args := range [][]string{
		{"addr", "add", addr + "/30", "dev", "eth0"},
		{"link", "set", "eth0", "up"},
		{"route", "add", "default", "via", hostAddr},
	} {
		if err := ns.IP(args...); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// command is name args... to be run inside the namespace: nsenter enters
// its network namespace only and execs name, so signals reach name.
func (h *nsHost) command(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=" + h.ns.Path, "--", name}, args...)...)
}

// relayLoopback makes a loopback-only server of this machine reachable in
// the namespace at the same address, 127.0.0.1:port, the way a k3s agent
// reaches its servers through its local load balancer: TLS stays end to
// end and the server's certificate, which names 127.0.0.1, still matches.
// Cleanup closes the listener and every relayed connection.
func (h *nsHost) relayLoopback(port int) {
	h.t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ln, err := h.ns.Listen("tcp4", addr)
	if err != nil {
		h.t.Fatalf("listen on %s in %s: %v", addr, h.ns.Name, err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if conns == nil { // stopped
			return false
		}
		conns[c] = struct{}{}
		return true
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp4", addr) // from this machine's namespace
			if err != nil {
				in.Close()
				continue
			}
			if !track(in) || !track(out) {
				in.Close()
				out.Close()
				return
			}
			wg.Add(2)
			go pipe(&wg, out, in)
			go pipe(&wg, in, out)
		}
	}()
	h.t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		conns = nil
		mu.Unlock()
		wg.Wait()
	})
}

// pipe copies src to dst until either ends, then closes both.
func pipe(wg *sync.WaitGroup, dst, src net.Conn) {
	defer wg.Done()
	_, _ = io.Copy(dst, src) // an error is a reset or closed peer: the end either way
	dst.Close()
	src.Close()
}

func (h *nsHost) delete() {
	if err := h.ns.Delete(); err != nil {
		h.t.Error(err)
	}
	// Gone with the namespace (the kernel removes it a moment later),
	// unless a process still holds the namespace.
	if out, err := exec.Command("ip", "link", "del", h.hostEnd).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such device") && !strings.Contains(string(out), "Cannot find device") {
		h.t.Errorf("ip link del %s: %v: %s", h.hostEnd, err, out)
	}
}
