package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/flotilla-io/flotilla/pkg/eventrecorder"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// With --event-ttl 3s an Event, also one updated after its create, is
// deleted by etcd through its lease: the watch reports DELETED and a GET
// answers 404.
func TestEventExpiresAfterTTL(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{EventTTL: 3 * time.Second})
	cs := srv.Clientset(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	now := metav1.Now()
	mk := func(name string) *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: "default"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p"},
			Reason:         "Test", Message: "expires", Type: corev1.EventTypeNormal,
			Source: corev1.EventSource{Component: "ttl-test"}, FirstTimestamp: now, LastTimestamp: now, Count: 1,
		}
	}
	created, err := cs.CoreV1().Events("default").Create(ctx, mk("short-lived"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cs.CoreV1().Events("default").Watch(ctx, metav1.ListOptions{ResourceVersion: created.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	updated, err := cs.CoreV1().Events("default").Create(ctx, mk("updated"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	updated.Count = 2
	if _, err := cs.CoreV1().Events("default").Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	deleted := map[string]time.Duration{}
	for len(deleted) < 2 {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch ended; deleted so far: %v", deleted)
			}
			if e, isEvent := ev.Object.(*corev1.Event); isEvent && ev.Type == watch.Deleted {
				deleted[e.Name] = time.Since(start)
			}
		case <-ctx.Done():
			t.Fatalf("Events not deleted within a minute of a 3s TTL; deleted: %v", deleted)
		}
	}
	t.Logf("deleted after %v", deleted)
	for _, name := range []string{"short-lived", "updated"} {
		if _, err := cs.CoreV1().Events("default").Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("GET %s after expiry: %v, want 404", name, err)
		}
	}
}

// The shared recorder aggregates: the same Event recorded ten times is
// one Event with count 10, not ten Events.
func TestRecorderAggregatesRepeatedEvents(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A ConfigMap: no other component records Events about it.
	cm, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "noisy"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec, stop := eventrecorder.Start(ctx, cs, "aggregation-test", "node-a")
	defer stop()
	for range 10 {
		rec.Event(cm, corev1.EventTypeWarning, "Repeated", "the same thing again")
	}
	var last string
	for ctx.Err() == nil {
		l, err := cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=noisy"})
		if err != nil {
			t.Fatal(err)
		}
		last = fmt.Sprintf("%d events", len(l.Items))
		if len(l.Items) == 1 {
			e := l.Items[0]
			last += fmt.Sprintf(", count %d", e.Count)
			if e.Count == 10 {
				if e.Source.Component != "aggregation-test" || e.Source.Host != "node-a" || e.ReportingController != "aggregation-test" {
					t.Errorf("source %+v, reportingController %q", e.Source, e.ReportingController)
				}
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("want one Event with count 10; last: %s", last)
}
