package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/workqueue"
)

func TestRunRetriesFailuresAndStops(t *testing.T) {
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, 10*time.Millisecond))
	var mu sync.Mutex
	calls := map[string]int{}
	done := make(chan struct{})
	syncKey := func(_ context.Context, key string) error {
		mu.Lock()
		defer mu.Unlock()
		calls[key]++
		switch {
		case key == "flaky" && calls[key] < 3:
			return errors.New("not yet")
		case key == "stale" && calls[key] < 2:
			return apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, "p", errors.New("modified"))
		}
		if calls["flaky"] >= 3 && calls["stale"] >= 2 && calls["ok"] >= 1 {
			select {
			case <-done:
			default:
				close(done)
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		Run(ctx, queue, 2, syncKey, slog.New(slog.DiscardHandler))
		close(stopped)
	}()
	for _, k := range []string{"ok", "flaky", "stale"} {
		queue.Add(k)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("keys not synced to success: %v", calls)
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
	if !queue.ShuttingDown() {
		t.Fatal("queue not shut down")
	}
	if n := queue.NumRequeues("flaky"); n != 0 {
		t.Fatalf("a key that succeeded keeps %d requeues", n)
	}
}
