package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// clusterDir is the server's data directory. It is short on purpose:
// containerd's socket path under it must fit in 108 bytes. It is fixed so
// a run cleans up what an interrupted one left.
const clusterDir = "/tmp/fl-conformance"

// cluster is a running flotilla server with its node agent, and the
// agent of a second node joined to it.
type cluster struct {
	cmd        *exec.Cmd
	node2      *exec.Cmd
	node2Log   *os.File
	flotilla   string
	kubectl    string
	kubeconfig string
	dir        string
	logFile    *os.File
}

// testEvictionHard keeps upstream's memory.available threshold but no
// disk ones, as kind configures its nodes: test machines' disks are often
// fuller than upstream's 10%/15% defaults allow (statfs on this one says
// 3.5% available), and a node under DiskPressure refuses every pod.
const testEvictionHard = "memory.available<100Mi"

func (c *cluster) pid() int { return c.cmd.Process.Pid }

// startCluster starts a fresh server in clusterDir and waits until its
// node is Ready.
func startCluster(ctx context.Context, o options, log *slog.Logger) (*cluster, error) {
	if err := cleanClusterDir(clusterDir); err != nil {
		return nil, err
	}
	if err := ensureNetwork(); err != nil {
		return nil, fmt.Errorf("node network: %w", err)
	}
	if err := os.MkdirAll(clusterDir, 0o700); err != nil {
		return nil, err
	}
	logPath := filepath.Join(o.out, "server.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	args := []string{"server", "--eviction-hard", testEvictionHard, "--data-dir", clusterDir,
		"--https-listen-port", fmt.Sprint(ports[0]),
		"--etcd-client-port", fmt.Sprint(ports[1]), "--etcd-peer-port", fmt.Sprint(ports[2]),
		"--bind-address", nodeIP, "--node-ip", nodeIP, "--cluster-cidr", podCIDR,
		// Upstream's test clusters (kind; kube-up with
		// CONTAINER_RUNTIME_TEST_HANDLER=true) give containerd a runc
		// handler named test-handler for the RuntimeClass specs.
		"--runtime-handler-alias", "test-handler"}
	// nsenter enters the network namespace only (ip netns exec would
	// also give the server a mount namespace of its own, hiding its
	// containerd's mounts from the cleanup) and then execs the server.
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + nodes[0].netns, "--", o.flotilla}, args...)...)
	cmd.Stdout, cmd.Stderr = lf, lf
	// Its own process group: an interrupt of this runner is forwarded by
	// stop, in order, rather than hitting every child at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", o.flotilla, err)
	}
	c := &cluster{cmd: cmd, flotilla: o.flotilla, kubectl: o.kubectl,
		kubeconfig: filepath.Join(clusterDir, "kubeconfig.yaml"), dir: clusterDir, logFile: lf}
	log.Info("server started", "pid", cmd.Process.Pid, "port", ports[0], "log", logPath)
	if err := c.waitNodesReady(ctx, 1, 2*time.Minute); err != nil {
		c.stop(log)
		return nil, err
	}
	if err := c.joinSecondNode(ctx, o, ports[0], log); err != nil {
		c.stop(log)
		return nil, err
	}
	return c, nil
}

// waitNodesReady polls until n nodes report Ready.
func (c *cluster) waitNodesReady(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		out, err := c.kubectlOutput(ctx, "get", "nodes", "-o",
			`jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
		last = strings.TrimSpace(out)
		if err == nil && strings.Count(out, "=True") >= n {
			return nil
		}
		if c.cmd.ProcessState != nil {
			return errors.New("server exited during start; see server.log")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("not %d nodes Ready within %v (last: %q)", n, timeout, last)
}

func (c *cluster) kubectlOutput(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.kubectl, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// importImages loads the built images into the node's containerd.
func (c *cluster) importImages(ctx context.Context, built map[string]string) error {
	tars := make([]string, 0, len(built))
	for _, p := range built {
		tars = append(tars, p)
	}
	sort.Strings(tars)
	for _, dir := range []string{c.dir, node2Dir(c.dir)} {
		args := append([]string{"images", "import", "--data-dir", dir}, tars...)
		out, err := exec.CommandContext(ctx, c.flotilla, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("flotilla images import --data-dir %s: %w\n%s", dir, err, out)
		}
	}
	return nil
}

// stop deletes what the suite left running, then stops the server and
// unmounts what its containerd mounted. Pods go first: they outlive the
// server by design.
func (c *cluster) stop(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := c.kubectlOutput(ctx, "delete", "pods", "--all", "-A", "--grace-period=1", "--timeout=90s"); err != nil {
		log.Warn("deleting leftover pods", "err", err, "out", strings.TrimSpace(out))
	}
	if c.node2 != nil {
		_ = c.node2.Process.Signal(syscall.SIGTERM)
		stopped := make(chan struct{})
		go func() { _ = c.node2.Wait(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			log.Warn("second node's agent did not stop within 30s; killing it")
			_ = syscall.Kill(-c.node2.Process.Pid, syscall.SIGKILL)
			<-stopped
		}
		c.node2Log.Close()
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		log.Warn("server did not stop within 30s; killing it")
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	c.logFile.Close()
	if err := cleanClusterDir(c.dir); err != nil {
		log.Warn("cleaning the cluster directory", "err", err)
	}
}

// cleanClusterDir kills containerd shims still serving containers under
// dir, unmounts everything below it and removes it.
func cleanClusterDir(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	killProcessesUnder(dir)
	mounts, err := mountsBelow(dir)
	if err != nil {
		return err
	}
	// Deepest first.
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("unmount %s: %w", m, err)
		}
	}
	return os.RemoveAll(dir)
}

// mountsBelow lists mount points at or under dir.
func mountsBelow(dir string) ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountPath(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out, nil
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// killProcessesUnder kills processes whose command line names dir: the
// containerd and shims of a run that was interrupted.
func killProcessesUnder(dir string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(string(cmdline), dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// freePorts returns n loopback ports free at the time of asking.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
