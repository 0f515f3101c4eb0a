package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// killServer ends the server with SIGKILL: no shutdown, no flush.
func killServer() {
	if cluster.cmd == nil || cluster.cmd.Process == nil {
		return
	}
	_ = cluster.cmd.Process.Kill()
	_ = cluster.cmd.Wait()
}

// Every create the server acknowledged survives kill -9s in the middle of
// four concurrent streams of writes, and the server is ready again after
// each. CHAOS_KILLS kills (3 in make test, 20 in make chaos); after each
// restart every name acknowledged so far is listed with its data.
func TestChaosServerKills(t *testing.T) {
	const scenario = "1 server kill -9 under writes"
	kills := envInt(t, "CHAOS_KILLS", 3)
	ns := namespace(t)
	cs := clientFor(t, cluster.kubeconfig, "", 5*time.Second)
	acked := map[string]string{} // name → its data
	var mu sync.Mutex
	var readies []time.Duration
	for k := range kills {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var round atomic.Int64
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					name := fmt.Sprintf("k%d-w%d-%d", k, w, i)
					value := fmt.Sprintf("%s@%d", name, time.Now().UnixNano())
					_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": value}}, metav1.CreateOptions{})
					if err != nil {
						return // the server is gone
					}
					mu.Lock()
					acked[name] = value
					mu.Unlock()
					round.Add(1)
				}
			}()
		}
		// Kill once this round has acknowledged writes, at a varying
		// point of the streams.
		eventually(t, 60*time.Second, func() (bool, string) {
			return round.Load() >= 20, fmt.Sprintf("%d writes acknowledged in round %d", round.Load(), k)
		})
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
		killServer()
		wg.Wait()
		cancel()
		start := time.Now()
		if err := startServer(); err != nil {
			t.Fatalf("kill %d: %v", k+1, err)
		}
		readies = append(readies, time.Since(start))

		list, err := cs.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatalf("kill %d: list after restart: %v", k+1, err)
		}
		have := map[string]string{}
		for _, cm := range list.Items {
			have[cm.Name] = cm.Data["v"]
		}
		lost := 0
		for name, value := range acked {
			if have[name] != value {
				lost++
				t.Errorf("kill %d: acknowledged configmap %s lost or changed after kill -9 (have %q, want %q)", k+1, name, have[name], value)
			}
		}
		if lost > 0 {
			t.FailNow()
		}
	}
	t.Logf("%d kills, %d acknowledged creates, all present after every restart; time to ready (min/median/max) %s", kills, len(acked), spread(readies))
	figure(scenario, "kills", "%d", kills)
	figure(scenario, "acknowledged creates (4 streams)", "%d", len(acked))
	figure(scenario, "acknowledged creates lost", "0")
	figure(scenario, "time to ready after kill (min/median/max)", "%s", spread(readies))
}
