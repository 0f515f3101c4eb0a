package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// kubeletEvents are the Events the agent recorded about pod (nil when
// kubectl fails).
func kubeletEvents(nc *nodeCluster, pod string) []corev1.Event {
	r := nc.kubectl("", "get", "events", "--field-selector", "involvedObject.name="+pod, "-o", "json")
	var l corev1.EventList
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &l) != nil {
		return nil
	}
	var out []corev1.Event
	for _, e := range l.Items {
		if e.Source.Component == "kubelet" {
			out = append(out, e)
		}
	}
	return out
}

// findEvent is the first of evs with reason whose message starts with
// prefix.
func findEvent(evs []corev1.Event, reason, prefix string) *corev1.Event {
	for i := range evs {
		if evs[i].Reason == reason && strings.HasPrefix(evs[i].Message, prefix) {
			return &evs[i]
		}
	}
	return nil
}

// describeEvents lists evs a line each, for failure messages.
func describeEvents(evs []corev1.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "\n  %s %s x%d from %s: %s", e.Type, e.Reason, e.Count, e.Source.Component, e.Message)
	}
	return b.String()
}

// A pod whose image cannot be pulled backs off as the kubelet does (10 s
// doubling to 300 s between pulls) and leaves a handful of Events with
// counts, not one per sync. The chaos suite watches the same for ten
// minutes (TestChaosImagePullBackOff).
func TestImagePullBackOffEvents(t *testing.T) {
	t.Parallel()
	nc := startNodeCluster(t)
	// Nothing listens on port 1 of loopback: every pull fails at once.
	const image = "127.0.0.1:1/nope/app:v1"
	start := time.Now()
	nc.ok(bound(podManifest("unpullable", image, "IfNotPresent", "")), "apply", "-f", "-")

	events := func() []corev1.Event { return kubeletEvents(nc, "unpullable") }
	find, describe := findEvent, describeEvents
	pullMsg := fmt.Sprintf("Failed to pull image %q", image)
	// Three pulls take 10+20 s of back-off between them: the third
	// failure comes after about 30 s; without back-off it would come
	// within a few seconds.
	var pullsAt time.Duration
	nc.eventually(120*time.Second, func() (bool, string) {
		evs := events()
		f := find(evs, "Failed", pullMsg)
		if f == nil || f.Count < 3 {
			return false, describe(evs)
		}
		pullsAt = time.Since(start)
		return true, ""
	})
	evs := events()
	t.Logf("after %v:%s", time.Since(start).Round(time.Second), describe(evs))
	if pullsAt < 25*time.Second {
		t.Errorf("3 failed pulls within %v: the back-off (10 s, 20 s) did not delay them", pullsAt)
	}
	if len(evs) > 12 {
		t.Errorf("%d Events for one unpullable pod, want a handful:%s", len(evs), describe(evs))
	}
	backoff := find(evs, "BackOff", fmt.Sprintf("Back-off pulling image %q", image))
	if backoff == nil || backoff.Count < 2 {
		t.Errorf("want a BackOff Event with count > 1:%s", describe(evs))
	}
	if f := find(evs, "Failed", pullMsg); f != nil && f.Count > 4 {
		t.Errorf("%d pulls in %v: not backing off", f.Count, time.Since(start))
	}
	reason := nc.jsonpath("pod", "unpullable", "{.status.containerStatuses[0].state.waiting.reason}")
	msg := nc.jsonpath("pod", "unpullable", "{.status.containerStatuses[0].state.waiting.message}")
	if reason != "ImagePullBackOff" && reason != "ErrImagePull" {
		t.Errorf("waiting reason %q, want ImagePullBackOff or ErrImagePull", reason)
	}
	if reason == "ImagePullBackOff" && !strings.HasPrefix(msg, fmt.Sprintf("Back-off pulling image %q", image)) {
		t.Errorf("waiting message %q", msg)
	}
}
