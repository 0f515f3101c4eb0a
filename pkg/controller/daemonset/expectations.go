package daemonset

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// expectationsTTL bounds how long a sync waits for the informer to show
// writes it made; past it the controller acts on what it sees.
const expectationsTTL = 5 * time.Minute

// expectations track, per DaemonSet key, the pod creations (a count) and
// deletions (by pod UID, so seeing a pod first marked for deletion and
// then gone counts once) issued but not yet seen in the pod informer, so
// a sync running on a stale cache neither creates nor deletes twice.
type expectations struct {
	mu sync.Mutex
	m  map[string]*pending
}

type pending struct {
	adds int
	dels map[types.UID]bool
	at   time.Time
}

func newExpectations() *expectations { return &expectations{m: map[string]*pending{}} }

// expect records adds creations and the deletion of dels about to be issued.
func (e *expectations) expect(key string, adds int, dels []types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := &pending{adds: adds, dels: map[types.UID]bool{}, at: time.Now()}
	for _, uid := range dels {
		p.dels[uid] = true
	}
	e.m[key] = p
}

// created lowers the pending creations: one seen, or one that failed.
func (e *expectations) created(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p := e.m[key]; p != nil {
		p.adds--
	}
}

// deleted drops a pending deletion: seen, or failed.
func (e *expectations) deleted(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p := e.m[key]; p != nil {
		delete(p.dels, uid)
	}
}

// satisfied reports whether nothing is pending for key.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.m[key]
	return p == nil || (p.adds <= 0 && len(p.dels) == 0) || time.Since(p.at) > expectationsTTL
}

func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
