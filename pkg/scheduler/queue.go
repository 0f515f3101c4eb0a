package scheduler

import (
	"container/heap"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
)

// Queue timings, as upstream's defaults.
const (
	initialBackoff       = 1 * time.Second
	maxBackoff           = 10 * time.Second
	maxUnschedulableWait = 5 * time.Minute
	flushInterval        = 1 * time.Second
)

// queuedPod is a pending pod and its scheduling history.
type queuedPod struct {
	pod      *v1.Pod
	key      string
	priority int32
	attempts int
	// backoffUntil is when the pod may be tried again after a failure;
	// parkedAt when it was put aside as unschedulable.
	backoffUntil, parkedAt time.Time
	seq                    uint64
	index                  int // in the active heap
}

// activeHeap orders pods by priority, then age.
type activeHeap []*queuedPod

func (h activeHeap) Len() int { return len(h) }
func (h activeHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	if !a.pod.CreationTimestamp.Equal(&b.pod.CreationTimestamp) {
		return a.pod.CreationTimestamp.Before(&b.pod.CreationTimestamp)
	}
	return a.seq < b.seq
}
func (h activeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *activeHeap) Push(x any) {
	qp := x.(*queuedPod)
	qp.index = len(*h)
	*h = append(*h, qp)
}
func (h *activeHeap) Pop() any {
	old := *h
	qp := old[len(old)-1]
	*h = old[:len(old)-1]
	qp.index = -1
	return qp
}

// schedulingQueue holds the pods waiting for a node in three places:
// active (ready to try, best first), backoff (failed recently) and
// unschedulable (waiting for the cluster to change).
type schedulingQueue struct {
	mu            sync.Mutex
	cond          *sync.Cond
	active        activeHeap
	activeByKey   map[string]*queuedPod
	backoff       map[string]*queuedPod
	unschedulable map[string]*queuedPod
	// cycle counts pops; moveCycle is the cycle of the last cluster
	// change, so a pod failing in a cycle that saw a change is retried
	// instead of waiting for another.
	cycle, moveCycle int64
	seq              uint64
	closed           bool
	now              func() time.Time
}

func newSchedulingQueue(now func() time.Time) *schedulingQueue {
	q := &schedulingQueue{activeByKey: map[string]*queuedPod{}, backoff: map[string]*queuedPod{}, unschedulable: map[string]*queuedPod{}, now: now, moveCycle: -1}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func backoffFor(attempts int) time.Duration {
	d := initialBackoff
	for i := 1; i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// Add queues a new pod, or refreshes a queued one. A pod put aside as
// unschedulable is moved on when changed says its spec or labels changed
// (it may fit now).
func (q *schedulingQueue) Add(pod *v1.Pod, key string, priority int32, changed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp := q.activeByKey[key]; qp != nil {
		qp.pod, qp.priority = pod, priority
		heap.Fix(&q.active, qp.index)
		return
	}
	if qp := q.backoff[key]; qp != nil {
		qp.pod, qp.priority = pod, priority
		return
	}
	if qp := q.unschedulable[key]; qp != nil {
		qp.pod, qp.priority = pod, priority
		if changed {
			delete(q.unschedulable, key)
			q.requeueLocked(qp)
		}
		return
	}
	q.seq++
	q.pushLocked(&queuedPod{pod: pod, key: key, priority: priority, seq: q.seq})
}

func (q *schedulingQueue) pushLocked(qp *queuedPod) {
	heap.Push(&q.active, qp)
	q.activeByKey[qp.key] = qp
	q.cond.Signal()
}

// requeueLocked sends a pod to backoff if its back-off runs, else active.
func (q *schedulingQueue) requeueLocked(qp *queuedPod) {
	if q.now().Before(qp.backoffUntil) {
		q.backoff[qp.key] = qp
		return
	}
	q.pushLocked(qp)
}

// Pop waits for the best active pod; false once the queue is closed.
func (q *schedulingQueue) Pop() (*queuedPod, int64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.active) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil, 0, false
	}
	qp := heap.Pop(&q.active).(*queuedPod)
	delete(q.activeByKey, qp.key)
	qp.attempts++
	q.cycle++
	return qp, q.cycle, true
}

// queuedLocked: the pod came back (an update) while it was being tried.
func (q *schedulingQueue) queuedLocked(key string) bool {
	return q.activeByKey[key] != nil || q.backoff[key] != nil || q.unschedulable[key] != nil
}

// Unschedulable puts back a pod that fit nowhere in the given cycle: it
// waits for a cluster change, or just for its back-off if a change
// happened while it was being tried.
func (q *schedulingQueue) Unschedulable(qp *queuedPod, cycle int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.queuedLocked(qp.key) {
		return
	}
	now := q.now()
	qp.backoffUntil = now.Add(backoffFor(qp.attempts))
	if q.moveCycle >= cycle {
		q.backoff[qp.key] = qp
		return
	}
	qp.parkedAt = now
	q.unschedulable[qp.key] = qp
}

// Retry puts back a pod whose attempt failed for another reason (an API
// error): it is tried again after its back-off.
func (q *schedulingQueue) Retry(qp *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.queuedLocked(qp.key) {
		return
	}
	qp.backoffUntil = q.now().Add(backoffFor(qp.attempts))
	q.backoff[qp.key] = qp
}

// MoveAll reacts to a cluster change: every unschedulable pod may fit now.
func (q *schedulingQueue) MoveAll() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for key, qp := range q.unschedulable {
		delete(q.unschedulable, key)
		q.requeueLocked(qp)
	}
	q.moveCycle = q.cycle
}

// Delete forgets a pod.
func (q *schedulingQueue) Delete(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp := q.activeByKey[key]; qp != nil {
		heap.Remove(&q.active, qp.index)
		delete(q.activeByKey, key)
	}
	delete(q.backoff, key)
	delete(q.unschedulable, key)
}

// Flush moves pods whose back-off ended to active, and pods unschedulable
// for too long back into rotation, in case an event was missed.
func (q *schedulingQueue) Flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	for key, qp := range q.backoff {
		if !now.Before(qp.backoffUntil) {
			delete(q.backoff, key)
			q.pushLocked(qp)
		}
	}
	for key, qp := range q.unschedulable {
		if now.Sub(qp.parkedAt) >= maxUnschedulableWait {
			delete(q.unschedulable, key)
			q.requeueLocked(qp)
		}
	}
}

// Open lets Pop serve again after Close (a new Run).
func (q *schedulingQueue) Open() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = false
}

// Close wakes Pop and makes it fail until Open.
func (q *schedulingQueue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// sizes reports how many pods wait where (active, backoff, unschedulable).
func (q *schedulingQueue) sizes() (int, int, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.active), len(q.backoff), len(q.unschedulable)
}
