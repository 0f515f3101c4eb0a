package e2e

// Helpers of the fault and soak suite (the TestChaos tests): the figures
// every scenario reports, printed as one table when the package ends,
// settings from the environment, and standalone server processes.
//
// The short scenarios (server kills, full data dir) are plain tests run by
// make test; the long ones build only with the tag chaos (make chaos).

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// figures are the suite's measurements, by scenario, in report order.
var figures struct {
	sync.Mutex
	rows   [][3]string // scenario, figure, value
	blocks []string    // free text (the soak's samples over time)
}

// figure records one measurement for the final table.
func figure(scenario, name string, format string, args ...any) {
	figures.Lock()
	defer figures.Unlock()
	figures.rows = append(figures.rows, [3]string{scenario, name, fmt.Sprintf(format, args...)})
}

// figureBlock records a preformatted block printed after the table.
func figureBlock(text string) {
	figures.Lock()
	defer figures.Unlock()
	figures.blocks = append(figures.blocks, text)
}

// printFigures writes the table of figures (if any scenario ran).
func printFigures(w io.Writer) {
	figures.Lock()
	defer figures.Unlock()
	if len(figures.rows) == 0 && len(figures.blocks) == 0 {
		return
	}
	widths := [3]int{len("scenario"), len("figure"), len("value")}
	for _, r := range figures.rows {
		for i := range r {
			widths[i] = max(widths[i], len(r[i]))
		}
	}
	line := func(r [3]string) {
		fmt.Fprintf(w, "| %-*s | %-*s | %-*s |\n", widths[0], r[0], widths[1], r[1], widths[2], r[2])
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(w, "\n=== fault and soak figures (load average at the end: %s) ===\n", strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
	line([3]string{"scenario", "figure", "value"})
	line([3]string{strings.Repeat("-", widths[0]), strings.Repeat("-", widths[1]), strings.Repeat("-", widths[2])})
	for _, r := range figures.rows {
		line(r)
	}
	for _, b := range figures.blocks {
		fmt.Fprintf(w, "\n%s\n", b)
	}
}

// envInt reads a positive integer setting, def when unset.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// envDuration reads a duration setting, def when unset.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 30m", name, v)
	}
	return d
}

// spread is "min / median / max" of some durations.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
	return fmt.Sprintf("%s / %s / %s", r(s[0]), r(s[len(s)/2]), r(s[len(s)-1]))
}

// clientFor is a client-go clientset of a kubeconfig, pointed at host
// when host is not empty (servers sharing one CA take the same
// credentials), unthrottled and with a per-request timeout.
func clientFor(t *testing.T, kubeconfig, host string, timeout time.Duration) *kubernetes.Clientset {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		cfg.Host = host
	}
	cfg.QPS, cfg.Burst, cfg.Timeout = -1, 0, timeout
	cfg.WarningHandler = rest.NoWarnings{}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// serverProc is a flotilla server process a scenario starts on its own
// (its own data dir, ports and datastore).
type serverProc struct {
	t          *testing.T
	args       []string
	dataDir    string
	url        string
	kubeconfig string
	logPath    string
	cmd        *exec.Cmd
	exited     chan struct{} // closed when the process has ended
}

// newServerProc prepares `flotilla server` on dataDir listening on
// 127.0.0.1:port; extra are more flags. The process is stopped when the
// test ends.
func newServerProc(t *testing.T, dataDir string, port int, extra ...string) *serverProc {
	t.Helper()
	args := append([]string{"server", "--data-dir", dataDir, "--bind-address", "127.0.0.1", "--https-listen-port", strconv.Itoa(port),
		"--etcd-client-port", strconv.Itoa(freePort()), "--etcd-peer-port", strconv.Itoa(freePort()), "--disable-agent"}, extra...)
	p := &serverProc{t: t, args: args, dataDir: dataDir, url: fmt.Sprintf("https://127.0.0.1:%d", port),
		kubeconfig: filepath.Join(dataDir, "kubeconfig.yaml"), logPath: filepath.Join(filepath.Dir(dataDir), filepath.Base(dataDir)+".log")}
	t.Cleanup(func() {
		p.stop()
		reviewLog(t, filepath.Base(dataDir), p.logPath, 40)
	})
	return p
}

// start runs the process and waits until it is ready.
func (p *serverProc) start() {
	p.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	p.cmd = exec.Command(cluster.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() { _ = p.cmd.Wait(); logf.Close(); close(p.exited) }()
	if err := waitReadyz(p.url, 90*time.Second); err != nil {
		p.t.Fatalf("%v (log %s)", err, p.logPath)
	}
}

// alive reports whether the process still runs.
func (p *serverProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill ends the process with SIGKILL and waits for it.
func (p *serverProc) kill() {
	if p.cmd == nil || !p.alive() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// stop interrupts the process as a user would and waits for it.
func (p *serverProc) stop() {
	if p.cmd == nil || !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.kill()
	}
}
