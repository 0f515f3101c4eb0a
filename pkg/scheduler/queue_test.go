package scheduler

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestBackoffFor(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := backoffFor(i + 1); got != w {
			t.Errorf("attempt %d: %v, want %v", i+1, got, w)
		}
	}
}

func TestQueueOrder(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	q := newSchedulingQueue(clock.now)
	older := pod("older", "", "")
	older.CreationTimestamp = metav1.NewTime(time.Unix(10, 0))
	newer := pod("newer", "", "")
	newer.CreationTimestamp = metav1.NewTime(time.Unix(20, 0))
	urgent := pod("urgent", "", "")
	urgent.CreationTimestamp = metav1.NewTime(time.Unix(30, 0))
	q.Add(newer, "newer", 0, false)
	q.Add(older, "older", 0, false)
	q.Add(urgent, "urgent", 100, false)
	for _, want := range []string{"urgent", "older", "newer"} {
		qp, _, ok := q.Pop()
		if !ok || qp.key != want {
			t.Fatalf("popped %v, want %s", qp.key, want)
		}
	}
}

func TestQueueUnschedulableWaitsForChange(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	q := newSchedulingQueue(clock.now)
	q.Add(pod("p", "", ""), "p", 0, false)
	qp, cycle, _ := q.Pop()
	q.Unschedulable(qp, cycle)
	if a, b, u := q.sizes(); a != 0 || b != 0 || u != 1 {
		t.Fatalf("sizes %d %d %d", a, b, u)
	}
	// Time alone (short of the 5 minute safety net) does not bring it back.
	clock.t = clock.t.Add(time.Minute)
	q.Flush()
	if a, _, u := q.sizes(); a != 0 || u != 1 {
		t.Fatal("flushed without a cluster change")
	}
	// A status-only update does not either; a spec change does.
	q.Add(pod("p", "", ""), "p", 0, false)
	if _, _, u := q.sizes(); u != 1 {
		t.Fatal("status-only update moved the pod")
	}
	q.MoveAll()
	if a, _, u := q.sizes(); a != 1 || u != 0 {
		t.Fatal("cluster change did not move the pod to active")
	}
}

func TestQueueBackoffAfterChange(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	q := newSchedulingQueue(clock.now)
	q.Add(pod("p", "", ""), "p", 0, false)
	qp, cycle, _ := q.Pop()
	q.Unschedulable(qp, cycle)
	q.MoveAll() // within the 1s back-off: goes to backoff, not active
	if a, b, _ := q.sizes(); a != 0 || b != 1 {
		t.Fatalf("sizes active=%d backoff=%d", a, b)
	}
	clock.t = clock.t.Add(999 * time.Millisecond)
	q.Flush()
	if a, _, _ := q.sizes(); a != 0 {
		t.Fatal("left back-off early")
	}
	clock.t = clock.t.Add(time.Millisecond)
	q.Flush()
	if a, _, _ := q.sizes(); a != 1 {
		t.Fatal("back-off did not end")
	}
	// Second failure backs off 2s; a change during the attempt sends it
	// straight to backoff rather than unschedulable.
	qp, cycle, _ = q.Pop()
	q.MoveAll()
	q.Unschedulable(qp, cycle)
	if _, b, u := q.sizes(); b != 1 || u != 0 {
		t.Fatalf("change during the attempt ignored: backoff=%d unschedulable=%d", b, u)
	}
	if got := qp.backoffUntil.Sub(clock.t); got != 2*time.Second {
		t.Fatalf("second back-off %v", got)
	}
}

func TestQueueSafetyNetAndDelete(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	q := newSchedulingQueue(clock.now)
	q.Add(pod("p", "", ""), "p", 0, false)
	qp, cycle, _ := q.Pop()
	q.Unschedulable(qp, cycle)
	clock.t = clock.t.Add(maxUnschedulableWait)
	q.Flush()
	if a, _, _ := q.sizes(); a != 1 {
		t.Fatal("stale unschedulable pod not retried")
	}
	q.Delete("p")
	if a, b, u := q.sizes(); a+b+u != 0 {
		t.Fatal("delete left the pod")
	}
}

func TestQueueCloseWakesPop(t *testing.T) {
	q := newSchedulingQueue(time.Now)
	done := make(chan bool)
	go func() {
		_, _, ok := q.Pop()
		done <- ok
	}()
	time.Sleep(10 * time.Millisecond)
	q.Close()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("Pop succeeded on a closed queue")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Pop did not wake")
	}
}
