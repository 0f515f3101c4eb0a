package images

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/flowcontrol"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

type nopEvents struct{}

func (nopEvents) Event(context.Context, *corev1.Pod, string, string, string) {}

// recordedEvents keeps "reason: message" of every Event.
type recordedEvents struct {
	mu  sync.Mutex
	got []string
}

func (r *recordedEvents) Event(_ context.Context, _ *corev1.Pod, _, reason, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, reason+": "+msg)
}

// unreachable is a registry that never serves the image.
type unreachable struct{ pulls int }

func (*unreachable) ImageStatus(context.Context, *runtimeapi.ImageStatusRequest, ...grpc.CallOption) (*runtimeapi.ImageStatusResponse, error) {
	return &runtimeapi.ImageStatusResponse{}, nil
}

func (u *unreachable) PullImage(context.Context, *runtimeapi.PullImageRequest, ...grpc.CallOption) (*runtimeapi.PullImageResponse, error) {
	u.pulls++
	return nil, errors.New("not found")
}

// A failed pull is retried only after 10 s, 20 s, 40 s ... at most 300 s,
// as the kubelet's; in between the container reads ImagePullBackOff and
// the registry is not asked.
func TestPullBackoffDelaysNextPull(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	rt := &unreachable{}
	ev := &recordedEvents{}
	p := NewPuller(rt, secrets{}, ev, slog.New(slog.NewTextHandler(io.Discard, nil)))
	p.backoff = newPullBackoff(flowcontrol.NewFakeBackOff(pullBackoffInitial, pullBackoffMax, clk))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"}}
	c := &corev1.Container{Name: "c", Image: "registry.invalid/nope:1", ImagePullPolicy: corev1.PullIfNotPresent}
	ctx := context.Background()

	ensure := func() error {
		_, err := p.Ensure(ctx, pod, c)
		return err
	}
	if err := ensure(); ReasonOf(err) != ReasonErrImagePull || rt.pulls != 1 {
		t.Fatalf("first attempt: %v (%s), %d pulls; want ErrImagePull after 1 pull", err, ReasonOf(err), rt.pulls)
	}
	wantDelays := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 300 * time.Second, 300 * time.Second}
	for i, d := range wantDelays {
		// Just before the delay ends: backing off, no pull.
		clk.Step(d - time.Second)
		err := ensure()
		if ReasonOf(err) != ReasonImagePullBackOff || rt.pulls != i+1 {
			t.Fatalf("delay %d (%v), 1 s early: %v (%s), %d pulls; want ImagePullBackOff with %d pulls", i, d, err, ReasonOf(err), rt.pulls, i+1)
		}
		if want := `Back-off pulling image "registry.invalid/nope:1": not found`; err.Error() != want {
			t.Fatalf("waiting message %q, want %q", err.Error(), want)
		}
		// Once it ended: pulled again (and failed again).
		clk.Step(time.Second)
		if err := ensure(); ReasonOf(err) != ReasonErrImagePull || rt.pulls != i+2 {
			t.Fatalf("delay %d (%v) over: %v (%s), %d pulls; want ErrImagePull after %d pulls", i, d, err, ReasonOf(err), rt.pulls, i+2)
		}
	}
	// Another pod's back-off is its own.
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns", UID: "u2"}}
	if _, err := p.Ensure(ctx, other, c); ReasonOf(err) != ReasonErrImagePull {
		t.Fatalf("other pod: %v, want ErrImagePull", err)
	}
	var backoffs, failed int
	for _, e := range ev.got {
		switch {
		case e == `BackOff: Back-off pulling image "registry.invalid/nope:1"`:
			backoffs++
		case strings.HasPrefix(e, `Failed: Failed to pull image "registry.invalid/nope:1": not found`):
			failed++
		}
	}
	if backoffs != len(wantDelays) || failed != len(wantDelays)+2 {
		t.Errorf("%d BackOff and %d Failed events, want %d and %d: %q", backoffs, failed, len(wantDelays), len(wantDelays)+2, ev.got)
	}
}
