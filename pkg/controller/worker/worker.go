// Package worker runs a controller's keyed work queue: workers take a key,
// call the controller's sync for it, and retry it through the queue's rate
// limiter when the sync fails. Every controller in pkg/controller works
// its queue this way, so the loop lives here once.
package worker

import (
	"context"
	"log/slog"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/workqueue"
)

// Sync reconciles what a key names.
type Sync func(ctx context.Context, key string) error

// Run works queue with the given number of workers until ctx ends, then
// shuts the queue down and waits for the workers. A failed sync is
// retried with back-off; a write conflict (a stale cache, retried once
// the informer catches up) is logged at debug level, other errors as
// warnings.
func Run(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], workers int, syncKey Sync, log *slog.Logger) {
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next(ctx, queue, syncKey, log) {
			}
		}()
	}
	<-ctx.Done()
	queue.ShutDown()
	wg.Wait()
}

func next(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], syncKey Sync, log *slog.Logger) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	if err := syncKey(ctx, key); err != nil {
		switch {
		case ctx.Err() != nil:
		case apierrors.IsConflict(err):
			log.Debug("sync conflict; retrying", "key", key, "err", err)
		default:
			log.Warn("sync", "key", key, "err", err)
		}
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	return true
}
