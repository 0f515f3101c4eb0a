// Package e2e runs the built flotilla binary and drives it with the stock
// kubectl, checking what a user sees: output, messages and exit codes.
//
// The tests that start clusters of their own (a server with its node
// agent, or agents in network namespaces) run in parallel: they spend most
// of their time waiting on containers, probes and grace periods, and one
// after another they took most of make test's time. They share nothing
// but the machine: each node cluster has its own data dir, containerd,
// ports and pod addresses, each namespace host its own addresses. The
// tests on the shared server (the cluster variable) stay sequential, and
// Go runs them all before the parallel ones start, so the restarts and
// kills of that server never meet a parallel test that uses it.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/pkg/server/testserver/freeport"
)

// cluster is the server all tests in this package share.
var cluster struct {
	bin        string
	pluginDir  string // holds kubectl-rolling_update
	dataDir    string
	kubeconfig string
	home       string
	url        string
	cmd        *exec.Cmd
	port       int
	logPath    string
}

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		return 0, fmt.Errorf("kubectl not found: %w", err)
	}
	tmp, err := os.MkdirTemp("", "flotilla-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	cluster.bin = os.Getenv("FLOTILLA_BIN")
	if cluster.bin == "" {
		cluster.bin = filepath.Join(tmp, "flotilla")
		_, file, _, _ := runtime.Caller(0)
		build := exec.Command("go", "build", "-o", cluster.bin, "./cmd/flotilla")
		build.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		if out, err := build.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("build: %v\n%s", err, out)
		}
	}
	// kubectl finds the rolling-update plugin beside the binary.
	cluster.pluginDir = filepath.Dir(cluster.bin)
	if _, err := os.Stat(filepath.Join(cluster.pluginDir, "kubectl-rolling_update")); err != nil {
		_, file, _, _ := runtime.Caller(0)
		build := exec.Command("go", "build", "-o", filepath.Join(tmp, "kubectl-rolling_update"), "./cmd/kubectl-rolling_update")
		build.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		if out, err := build.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("build plugin: %v\n%s", err, out)
		}
		cluster.pluginDir = tmp
	}
	cluster.dataDir = filepath.Join(tmp, "data")
	cluster.home = filepath.Join(tmp, "home") // a private kubectl discovery cache
	cluster.logPath = filepath.Join(tmp, "server.log")
	if err := startServer(); err != nil {
		return 0, err
	}
	code := m.Run()
	stopServer()
	printFigures(os.Stdout)
	if code != 0 {
		if log, err := os.ReadFile(cluster.logPath); err == nil {
			lines := strings.Split(string(log), "\n")
			if len(lines) > 60 {
				lines = lines[len(lines)-60:]
			}
			fmt.Fprintf(os.Stderr, "--- server log (tail) ---\n%s\n", strings.Join(lines, "\n"))
		}
	}
	return code, nil
}

// freePort is a loopback port for a server to bind later.
func freePort() int { return freeport.Loopback() }

// startServer starts (or restarts, on the same data dir) the server.
func startServer() error {
	if cluster.port == 0 {
		cluster.port = freePort()
	}
	logf, err := os.OpenFile(cluster.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	// Loopback only: this cluster runs no node agent, so no pod needs to
	// reach its API.
	cluster.cmd = exec.Command(cluster.bin, "server", "--data-dir", cluster.dataDir, "--bind-address", "127.0.0.1",
		"--https-listen-port", fmt.Sprint(cluster.port),
		"--etcd-client-port", fmt.Sprint(freePort()), "--etcd-peer-port", fmt.Sprint(freePort()), "--disable-agent")
	cluster.cmd.Stdout, cluster.cmd.Stderr = logf, logf
	if err := cluster.cmd.Start(); err != nil {
		return err
	}
	cluster.kubeconfig = filepath.Join(cluster.dataDir, "kubeconfig.yaml")
	cluster.url = fmt.Sprintf("https://127.0.0.1:%d", cluster.port)
	if err := waitReadyz(cluster.url, 60*time.Second); err != nil {
		return fmt.Errorf("%w (log: %s)", err, cluster.logPath)
	}
	return nil
}

// waitReadyz polls a server's /readyz (anonymous) until it answers 200.
func waitReadyz(url string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %v", url, timeout)
}

func stopServer() {
	if cluster.cmd == nil || cluster.cmd.Process == nil {
		return
	}
	interruptAndWait(cluster.cmd, 20*time.Second)
}

// interruptAndWait stops a process the way a user would (Ctrl-C), and
// kills it if it has not gone after timeout.
func interruptAndWait(cmd *exec.Cmd, timeout time.Duration) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
	}
}

// result is one kubectl run.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// kubectl runs the stock kubectl against the cluster; stdin may be "".
func kubectl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return kubectlEnv(t, nil, stdin, args...)
}

// kubectlEnv is kubectl with extra environment variables. EDITOR defaults
// to a no-op so that `kubectl edit` can never wait on a terminal.
func kubectlEnv(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.kubeconfig, "HOME="+cluster.home, "EDITOR=true", "PATH="+cluster.pluginDir+":"+os.Getenv("PATH"))
	cmd.Env = append(cmd.Env, env...)
	cmd.WaitDelay = 5 * time.Second // a child holding the pipes must not hang the test
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
		t.Fatalf("kubectl %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// ok runs kubectl and fails the test unless it exits 0.
func ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := kubectl(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("kubectl %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// fails runs kubectl, expects a non-zero exit and returns stderr.
func fails(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := kubectl(t, stdin, args...)
	if r.code == 0 {
		t.Fatalf("kubectl %s succeeded, want failure: %s", strings.Join(args, " "), r)
	}
	return r.stderr
}

func contains(t *testing.T, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Fatalf("output lacks %q:\n%s", w, got)
		}
	}
}

// header returns the first line's whitespace-separated column names.
func header(out string) []string {
	line, _, _ := strings.Cut(out, "\n")
	return strings.Fields(line)
}

// namespace creates a fresh namespace for one test.
func namespace(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-")
	ok(t, "", "create", "namespace", name)
	return name
}
