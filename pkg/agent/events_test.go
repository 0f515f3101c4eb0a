package agent

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// The stop function start returns ends the recorder and returns; it once
// called itself (a shadowed result) and overflowed the stack at every
// agent shutdown.
func TestEventRecorderStopReturns(t *testing.T) {
	var r eventRecorder
	stop := r.start(context.Background(), fake.NewClientset(), "n1")
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not return")
	}
	// Stopped, the recorder drops Events instead of writing them.
	r.NodeEvent("n1", corev1.EventTypeNormal, "Test", "after stop")
}
