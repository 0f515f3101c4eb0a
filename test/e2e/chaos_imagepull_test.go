//go:build chaos

package e2e

import (
	"fmt"
	"testing"
	"time"
)

// A pod left in ImagePullBackOff for CHAOS_PULL_SOAK (default 10 minutes)
// leaves a handful of Events with counts, not hundreds: the pulls back off
// from 10 s doubling to 300 s (about seven in ten minutes), and the
// recorder aggregates the rest.
func TestChaosImagePullBackOff(t *testing.T) {
	soak := envDuration(t, "CHAOS_PULL_SOAK", 10*time.Minute)
	nc := startNodeCluster(t)
	const image = "127.0.0.1:1/nope/app:v1" // nothing listens on port 1
	start := time.Now()
	nc.ok(bound(podManifest("unpullable", image, "IfNotPresent", "")), "apply", "-f", "-")
	pullMsg := fmt.Sprintf("Failed to pull image %q", image)

	// Back-off from 10 s doubling to 300 s: the pulls that fit in soak.
	wantPulls, at := 1, time.Duration(0)
	for d := 10 * time.Second; ; d = min(2*d, 300*time.Second) {
		if at += d; at > soak {
			break
		}
		wantPulls++
	}
	// The soak is over when the last pull that fits has failed and the
	// time is up: a positive signal, then the deadline.
	nc.eventually(soak+2*time.Minute, func() (bool, string) {
		evs := kubeletEvents(nc, "unpullable")
		f := findEvent(evs, "Failed", pullMsg)
		return f != nil && int(f.Count) >= wantPulls-1 && time.Since(start) >= soak, describeEvents(evs)
	})
	evs := kubeletEvents(nc, "unpullable")
	total := 0
	for _, e := range evs {
		total += int(e.Count)
	}
	failed := findEvent(evs, "Failed", pullMsg)
	t.Logf("after %v: %d Events, counts summing to %d:%s", time.Since(start).Round(time.Second), len(evs), total, describeEvents(evs))
	figure("ImagePullBackOff soak", "Events after "+soak.String(), "%d objects, counts summing to %d", len(evs), total)
	figure("ImagePullBackOff soak", "failed pulls", "%d (back-off allows %d)", failed.Count, wantPulls)
	if len(evs) > 12 {
		t.Errorf("%d Events for one unpullable pod after %v, want a handful", len(evs), soak)
	}
	if int(failed.Count) > wantPulls+1 {
		t.Errorf("%d failed pulls in %v: the back-off allows %d", failed.Count, soak, wantPulls)
	}
}
