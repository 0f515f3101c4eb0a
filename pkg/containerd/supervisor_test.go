package containerd

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// needContainerd fails the test, with the reason, where containerd
// cannot run: a run that cannot test the supervisor must not pass.
func needContainerd(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("containerd"); err != nil {
		t.Fatalf("containerd is not installed (hack/install-deps.sh installs it): %v", err)
	}
	if os.Geteuid() != 0 {
		t.Fatal("containerd needs root: run this test as root")
	}
}

func TestSupervisorStartsAndRestartsContainerd(t *testing.T) {
	needContainerd(t)
	dir, err := os.MkdirTemp("/tmp", "ctrd-") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, Config{Dir: filepath.Join(dir, "containerd"), SandboxImage: "flotilla.io/pause:3.10", CNIBinDir: "/usr/lib/cni", CNIConfDir: filepath.Join(dir, "net.d")}, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	v, err := s.Client.Version(ctx)
	if err != nil || v.RuntimeName != "containerd" {
		t.Fatalf("version: %v %v", v, err)
	}
	first := s.Pid()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		cctx, c := context.WithTimeout(ctx, time.Second)
		_, err := s.Client.Version(cctx)
		c()
		if err == nil && s.Pid() != first {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("containerd was not restarted after SIGKILL")
}
