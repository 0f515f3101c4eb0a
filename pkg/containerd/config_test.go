package containerd

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestRenderConfigRuntimeAliases(t *testing.T) {
	plain := renderConfig(Config{Dir: "/d"})
	if strings.Contains(plain, "test-handler") {
		t.Fatal("a node offers no test-handler unless asked")
	}
	cfg := renderConfig(Config{Dir: "/d", RuntimeAliases: []string{"test-handler", "runc"}})
	for _, want := range []string{
		`[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.test-handler]`,
		`[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.test-handler.options]`,
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %s:\n%s", want, cfg)
		}
	}
	if n := strings.Count(cfg, `runtimes.runc]`); n != 1 {
		t.Errorf("runc declared %d times, want once", n)
	}
}

// The CRI plugin of a real containerd knows the alias as a handler.
func TestRuntimeAliasReachesCRI(t *testing.T) {
	needContainerd(t)
	dir, err := os.MkdirTemp("/tmp", "ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, Config{Dir: filepath.Join(dir, "containerd"), SandboxImage: "flotilla.io/pause:3.10", CNIBinDir: "/usr/lib/cni",
		CNIConfDir: filepath.Join(dir, "net.d"), RuntimeAliases: []string{"test-handler"}}, slog.New(slog.DiscardHandler))
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
	st, err := s.Client.Runtime.Status(ctx, &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Info["config"], `"test-handler"`) {
		t.Fatalf("CRI config does not list test-handler: %s", st.Info["config"])
	}
}
