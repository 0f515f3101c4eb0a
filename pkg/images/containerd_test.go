package images

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const testNS = "k8s.io"

// testContainerd is a private containerd started by a test.
type testContainerd struct {
	dir  string // root of everything it writes
	sock string // gRPC socket
	log  string // its stdout/stderr
}

// ctr runs ctr against the private containerd in testNS.
func (c *testContainerd) ctr(ctx context.Context, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", c.sock, "--namespace", testNS}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), err
}

// dumpLog logs the tail of containerd's log when the test failed.
func (c *testContainerd) dumpLog(t *testing.T) {
	if !t.Failed() {
		return
	}
	if b, err := os.ReadFile(c.log); err == nil {
		if len(b) > 8000 {
			b = b[len(b)-8000:]
		}
		t.Logf("containerd log (tail):\n%s", b)
	}
}

// startContainerd starts a containerd child process with its own root,
// state and socket (CRI plugin disabled) and waits for it to answer. Its
// cleanup removes the given containers, stops containerd, unmounts whatever
// is still mounted below its directory and removes it.
func startContainerd(t *testing.T, containers ...string) *testContainerd {
	t.Helper()
	// A short directory: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "flt-ctd-")
	if err != nil {
		t.Fatal(err)
	}
	c := &testContainerd{dir: dir, sock: filepath.Join(dir, "containerd.sock"), log: filepath.Join(dir, "containerd.log")}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock, c.sock+".ttrpc", filepath.Join(dir, "debug.sock"))
	configPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command("containerd", "--config", configPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group, so that signals meant for the test don't reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("start containerd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()

	t.Cleanup(func() {
		c.dumpLog(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, id := range containers {
			c.ctr(ctx, "task", "kill", "-s", "SIGKILL", id)
			c.ctr(ctx, "task", "delete", "--force", id)
			c.ctr(ctx, "container", "delete", id)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		killShims(t, c.sock)
		unmountBelow(t, dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.ctr(ctx, "version")
		cancel()
		if err == nil {
			return c
		}
		select {
		case <-exited:
			t.Fatalf("containerd exited early: %v", cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer on %s: %v", c.sock, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killShims kills leftover shim processes of the containerd on sock (they
// outlive containerd when a task is still running), by pid.
func killShims(t *testing.T, sock string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") || !slices.Contains(args, sock) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			t.Logf("cleanup: killing leftover shim %d", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// unmountBelow lazily unmounts every mount point below dir, deepest first.
func unmountBelow(t *testing.T, dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if strings.HasPrefix(mp, dir+"/") {
			mounts = append(mounts, mp)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, mp := range mounts {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil {
			t.Logf("cleanup: unmount %s: %v", mp, err)
		}
	}
}

// unescapeMountinfo decodes the octal escapes (\040 etc.) of mountinfo.
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// TestContainerd imports the pause and busybox images into a private
// containerd and runs containers from both, proving the images are unpacked
// and usable.
func TestContainerd(t *testing.T) {
	requireContainerd(t)
	if _, err := PauseBinary(); err != nil {
		t.Fatal(err)
	}
	bb, _ := hostBusyboxes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := startContainerd(t, "t1", "p1")

	// Import: errors carry ctr's stderr.
	missing := filepath.Join(c.dir, "missing.tar")
	if err := Import(ctx, c.sock, testNS, missing); err == nil || !strings.Contains(err.Error(), "missing.tar") {
		t.Errorf("Import(missing) = %v, want an error naming the file", err)
	}
	if err := ImportArchive(ctx, c.sock, testNS, Pause); err != nil {
		t.Fatal(err)
	}
	if err := ImportArchive(ctx, c.sock, testNS, func(w io.Writer) error { return Busybox(w, bb) }); err != nil {
		t.Fatal(err)
	}
	// Importing again is harmless (the agent does it on every start).
	if err := ImportArchive(ctx, c.sock, testNS, Pause); err != nil {
		t.Fatalf("re-import: %v", err)
	}

	out, err := c.ctr(ctx, "images", "ls", "-q")
	if err != nil {
		t.Fatal(err)
	}
	refs := strings.Fields(out)
	for _, ref := range []string{PauseRef, BusyboxRef} {
		if !slices.Contains(refs, ref) {
			t.Errorf("images ls -q = %v, missing %s", refs, ref)
		}
	}
	// Unpacked into the default (overlayfs) snapshotter: one committed layer each.
	if out, err := c.ctr(ctx, "snapshots", "--snapshotter", "overlayfs", "ls"); err != nil || strings.Count(out, "Committed") < 2 {
		t.Errorf("overlayfs snapshots = %q, %v; want the two unpacked layers", out, err)
	}

	t.Run("busybox", func(t *testing.T) {
		out, err := c.ctr(ctx, "run", "--rm", BusyboxRef, "t1", "sh", "-c", "echo hi; id -un; test -k /tmp && echo sticky")
		if err != nil {
			t.Fatal(err)
		}
		if want := "hi\nroot\nsticky\n"; out != want {
			t.Errorf("busybox output = %q, want %q", out, want)
		}
	})

	t.Run("pause", func(t *testing.T) {
		// Run in the foreground: ctr run exits with the task's exit status.
		var stderr bytes.Buffer
		run := exec.CommandContext(ctx, "ctr", "--address", c.sock, "--namespace", testNS, "run", "--rm", PauseRef, "p1")
		run.Stderr = &stderr
		if err := run.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		var runErr error
		go func() { runErr = run.Wait(); close(exited) }()
		defer func() { run.Process.Kill(); <-exited }()

		// Wait until the task runs.
		for deadline := time.Now().Add(10 * time.Second); ; {
			out, _ := c.ctr(ctx, "task", "ls")
			if taskStatus(out, "p1") == "RUNNING" {
				break
			}
			select {
			case <-exited:
				t.Fatalf("ctr run exited early: %v: %s", runErr, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("task p1 not running: %q", out)
			}
			time.Sleep(50 * time.Millisecond)
		}
		// Still running a little later: pause blocks.
		time.Sleep(200 * time.Millisecond)
		if out, _ := c.ctr(ctx, "task", "ls"); taskStatus(out, "p1") != "RUNNING" {
			t.Fatalf("task p1 stopped on its own: %q", out)
		}
		if _, err := c.ctr(ctx, "task", "kill", "-s", "SIGTERM", "p1"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-exited:
			var ee *exec.ExitError
			if errors.As(runErr, &ee) {
				t.Fatalf("pause task exited with status %d after SIGTERM, want 0 (%s)", ee.ExitCode(), stderr.String())
			} else if runErr != nil {
				t.Fatal(runErr)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("pause task still running 5s after SIGTERM")
		}
	})
}

// taskStatus returns the STATUS column of id in `ctr task ls` output.
func taskStatus(out, id string) string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == id {
			return f[2]
		}
	}
	return ""
}
