package eventrecorder

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// Recorder records Events about objects (client-go's EventRecorder).
type Recorder = record.EventRecorder

// Start returns a recorder that writes the Events of component (on host,
// "" for cluster components) through client until ctx ends or stop is
// called; stop waits for nothing and may be called more than once.
// Writes are asynchronous and best effort: a failed write costs only the
// Event, never the caller's work.
func Start(ctx context.Context, client kubernetes.Interface, component, host string) (rec Recorder, stop func()) {
	return StartToSink(ctx, &typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")}, component, host)
}

// StartToSink is Start writing to sink (a component that writes Events
// without a client, such as an admission plugin inside the API server).
func StartToSink(ctx context.Context, sink record.EventSink, component, host string) (rec Recorder, stop func()) {
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(sink)
	return b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component, Host: host}), b.Shutdown
}

// Discard is a recorder that drops every Event: the value of a
// component's recorder before it runs (unit tests that call its sync
// directly).
func Discard() Recorder { return &record.FakeRecorder{} }
