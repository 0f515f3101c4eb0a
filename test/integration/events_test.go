package integration

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// An event written through events.k8s.io/v1 is found by both APIs' field
// selectors: core's source (its reporting controller stands in) and
// events.k8s.io's own labels (reportingController, regarding.*).
func TestEventFieldSelectorsAcrossVersions(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "event-test"},
		Regarding:           corev1.ObjectReference{Namespace: "default", Kind: "Pod", Name: "p"},
		EventTime:           metav1.MicroTime{Time: time.Unix(1505828956, 0)},
		Note:                "This is event-test",
		Action:              "Do",
		Reason:              "Test",
		Type:                "Normal",
		ReportingController: "test-controller",
		ReportingInstance:   "test-node",
	}
	if _, err := cs.EventsV1().Events("default").Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	core, err := cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "source=test-controller"})
	if err != nil || len(core.Items) != 1 || core.Items[0].Name != "event-test" {
		t.Fatalf("core list by source: %v, %v", core, err)
	}
	for _, sel := range []string{"reportingController=test-controller", "regarding.kind=Pod,regarding.name=p", "reason=Test"} {
		l, err := cs.EventsV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil || len(l.Items) != 1 {
			t.Errorf("events.k8s.io list by %q: %v, %v", sel, l, err)
		}
	}
	if l, err := cs.EventsV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reportingController=other"}); err != nil || len(l.Items) != 0 {
		t.Errorf("non-matching selector: %v, %v", l, err)
	}
	// Core labels are not events.k8s.io's.
	if _, err := cs.EventsV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Pod"}); err == nil {
		t.Errorf("events.k8s.io accepted core's field label involvedObject.kind")
	}
}
