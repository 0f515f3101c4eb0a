// Package simtest runs simulated nodes inside a test, for tests that need
// pods bound and Running without containers.
package simtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
	"github.com/flotilla-io/flotilla/pkg/sim"
)

// Start runs cfg's nodes until stop is called or the test ends, and
// returns once they are all Ready.
func Start(t testing.TB, cs kubernetes.Interface, cfg sim.Config) (names []string, stop func()) {
	t.Helper()
	s, err := sim.New(cs, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	names = s.NodeNames()
	testserver.Eventually(t, 20*time.Second, "simulated nodes Ready", func() (bool, string) {
		ready := 0
		for _, name := range names {
			n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err == nil && nodeReady(n) {
				ready++
			}
		}
		return ready == len(names), fmt.Sprintf("%d/%d nodes Ready", ready, len(names))
	})
	return names, stop
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Stats is the StatsConfig that lets simulated nodes serve their usage to
// in (the join token from its data dir, its URL): set it as cfg.Stats.
func Stats(t testing.TB, in *testserver.Instance) *sim.StatsConfig {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(in.Config.DataDir, "token"))
	if err != nil {
		t.Fatalf("the server's join token: %v", err)
	}
	return &sim.StatsConfig{Server: in.LoopbackConfig().Host, Token: strings.TrimSpace(string(token)), Dir: t.TempDir()}
}
