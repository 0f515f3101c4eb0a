package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/flotilla-io/flotilla/pkg/proxy/nettest"
)

// requireContainerd fails the test unless it can run containers: root,
// containerd and ctr.
func requireContainerd(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("needs root to run containerd")
	}
	for _, tool := range []string{"containerd", "ctr", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not on PATH (hack/install-deps.sh installs it): %v", tool, err)
		}
	}
}

// bbNet is what the busybox image's network tools are tried against: an
// HTTP server and a DNS server on 127.0.0.1 of a network namespace of the
// test's own, which the containers join, and the resolv.conf they get.
type bbNet struct {
	ns         *nettest.NS
	httpPort   int
	closedPort int
	resolvConf string
}

const bbBody = "hello from the test server\n"

// cluster names the DNS server answers; everything else is NXDOMAIN.
var bbRecords = map[string]string{
	"myservice.default.svc.cluster.local.": "10.96.0.10",
	"web.default.svc.cluster.local.":       "127.0.0.1",
}

func startBBNet(t *testing.T) *bbNet {
	t.Helper()
	ns, err := nettest.NewNS("flt-bb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Delete(); err != nil {
			t.Error(err)
		}
	})
	n := &bbNet{ns: ns}

	ln, err := ns.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, bbBody)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	n.httpPort = ln.Addr().(*net.TCPAddr).Port

	// A port nothing listens on: nothing else runs in the namespace.
	closed, err := ns.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.closedPort = closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	pc, err := ns.ListenPacket("udp", "127.0.0.1:53")
	if err != nil {
		t.Fatal(err)
	}
	dnsSrv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		addr, ok := bbRecords[strings.ToLower(q.Name)]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.ParseIP(addr)})
		}
		w.WriteMsg(m)
	})}
	go dnsSrv.ActivateAndServe()
	t.Cleanup(func() { dnsSrv.Shutdown() })

	n.resolvConf = filepath.Join(t.TempDir(), "resolv.conf")
	conf := "nameserver 127.0.0.1\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
	if err := os.WriteFile(n.resolvConf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}

// runResult is what a container printed and its exit status.
type runResult struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// run runs `sh -c script` in a busybox container joined to the test's
// network namespace, with the test's resolv.conf.
func (n *bbNet) run(ctx context.Context, t *testing.T, c *testContainerd, id, script string) runResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ctr", "--address", c.sock, "--namespace", testNS, "run", "--rm",
		"--with-ns", "network:"+n.ns.Path,
		"--mount", "type=bind,src="+n.resolvConf+",dst=/etc/resolv.conf,options=rbind:ro",
		BusyboxRef, id, "sh", "-c", script)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := runResult{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("ctr run %s: %v: %s", id, err, stderr.String())
	}
	t.Logf("%s: %q -> %d, stdout %q, stderr %q (%v)", id, script, r.code, r.stdout, r.stderr, r.took.Round(time.Millisecond))
	return r
}

// TestBusyboxImageNetworkTools runs the built-in busybox image in a real
// containerd and uses its wget, nc and nslookup the way pods and upstream's
// tests do, through the image's shell.
func TestBusyboxImageNetworkTools(t *testing.T) {
	requireContainerd(t)
	static, _ := hostBusyboxes(t)
	ids := make([]string, 0, 16)
	for i := 0; i < cap(ids); i++ {
		ids = append(ids, fmt.Sprintf("bbnet%d", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := startContainerd(t, ids...)
	if err := ImportArchive(ctx, c.sock, testNS, func(w io.Writer) error { return Busybox(w, static) }); err != nil {
		t.Fatal(err)
	}
	n := startBBNet(t)
	next := 0
	run := func(script string) runResult {
		t.Helper()
		id := ids[next]
		next++
		return n.run(ctx, t, c, id, script)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", n.httpPort)
	closedURL := fmt.Sprintf("http://127.0.0.1:%d/", n.closedPort)

	// Debian's busybox wget dies with SIGSEGV (status 139) on -T.
	if r := run("wget -T 3 -q -O- " + url); r.code != 0 || r.stdout != bbBody {
		t.Errorf("wget -T 3 -q -O- = %d, %q, %q; want the body", r.code, r.stdout, r.stderr)
	}
	if r := run("wget -T 3 -q -O- " + closedURL); r.code != 1 || !strings.Contains(r.stderr, "Connection refused") || r.took > 3*time.Second {
		t.Errorf("wget to a closed port = %d, %q after %v; want status 1 at once", r.code, r.stderr, r.took)
	}
	// A cluster name through resolv.conf's search list.
	if r := run(fmt.Sprintf("wget -T 3 -q -O- http://web:%d/", n.httpPort)); r.code != 0 || r.stdout != bbBody {
		t.Errorf("wget by service name = %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	if r := run("wget -q --spider " + url + " && echo exists"); r.code != 0 || r.stdout != "exists\n" {
		t.Errorf("wget --spider = %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	// busybox's own timeout runs the wget on PATH, too.
	if r := run("timeout 10 wget -T 3 -q -O- " + url); r.code != 0 || r.stdout != bbBody {
		t.Errorf("timeout 10 wget = %d, %q, %q", r.code, r.stdout, r.stderr)
	}

	if r := run(fmt.Sprintf("nc -z -w 2 127.0.0.1 %d", n.httpPort)); r.code != 0 {
		t.Errorf("nc -z to the open port = %d, %q", r.code, r.stderr)
	}
	if r := run(fmt.Sprintf("nc -z -w 2 127.0.0.1 %d", n.closedPort)); r.code != 1 {
		t.Errorf("nc -z to the closed port = %d, %q", r.code, r.stderr)
	}
	// A server in the container: nc -l -p PORT -e PROG, and a client
	// retrying until it listens.
	if r := run("nc -l -p 9000 -e echo served & " +
		"until out=$(nc 127.0.0.1 9000 </dev/null 2>/dev/null) && [ -n \"$out\" ]; do usleep 20000; done; echo \"$out\"; wait"); r.code != 0 || r.stdout != "served\n" {
		t.Errorf("nc -l -e = %d, %q, %q", r.code, r.stdout, r.stderr)
	}

	const answer = "Name:\tmyservice.default.svc.cluster.local\nAddress: 10.96.0.10\n"
	if r := run("nslookup myservice.default.svc.cluster.local"); r.code != 0 || !strings.Contains(r.stdout, answer) || !strings.Contains(r.stdout, "Server:\t\t127.0.0.1\n") {
		t.Errorf("nslookup FQDN = %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	// Through the search list. (Its status is 1, as upstream busybox's,
	// since the other search domains answer NXDOMAIN.)
	if r := run("nslookup myservice"); !strings.Contains(r.stdout, answer) {
		t.Errorf("nslookup via the search list = %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	if r := run("nslookup nope.default.svc.cluster.local"); r.code != 1 || !strings.Contains(r.stdout, "** server can't find nope.default.svc.cluster.local: NXDOMAIN") {
		t.Errorf("nslookup of a missing name = %d, %q, %q", r.code, r.stdout, r.stderr)
	}
}
