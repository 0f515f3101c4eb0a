package images

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/flowcontrol"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	builtin "github.com/flotilla-io/flotilla/pkg/images"
)

// Runtime is the CRI image service the puller asks.
type Runtime interface {
	ImageStatus(ctx context.Context, in *runtimeapi.ImageStatusRequest, opts ...grpc.CallOption) (*runtimeapi.ImageStatusResponse, error)
	PullImage(ctx context.Context, in *runtimeapi.PullImageRequest, opts ...grpc.CallOption) (*runtimeapi.PullImageResponse, error)
}

// Secrets reads the pod's image pull secrets: a Secret's data, found
// false when it does not exist.
type Secrets interface {
	SecretData(ctx context.Context, ns, name string, optional *bool) (data map[string][]byte, found bool, err error)
}

// Recorder records an Event about a pod.
type Recorder interface {
	Event(ctx context.Context, pod *corev1.Pod, eventType, reason, message string)
}

// Puller ensures images are present for containers.
type Puller struct {
	rt      Runtime
	secrets Secrets
	events  Recorder
	backoff *pullBackoff
	log     *slog.Logger
}

// NewPuller is a Puller asking rt, with credentials from secrets,
// recording Pulling, Pulled, Failed and BackOff Events on events.
func NewPuller(rt Runtime, secrets Secrets, events Recorder, log *slog.Logger) *Puller {
	return &Puller{rt: rt, secrets: secrets, events: events, log: log,
		backoff: newPullBackoff(flowcontrol.NewBackOff(pullBackoffInitial, pullBackoffMax))}
}

// Ensure makes the container's image present as its pull policy asks,
// and returns the runtime's reference to it with the user its config
// names. With Always a failed pull is the container's error even when an
// older copy is present, as with the kubelet: the policy exists so that
// a pod never runs what the registry no longer serves (or what another
// user's credentials pulled onto the node).
func (p *Puller) Ensure(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (podrun.Image, error) {
	spec := &runtimeapi.ImageSpec{Image: normalizeImage(c.Image)}
	st, err := p.rt.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec})
	if err != nil {
		return podrun.Image{}, fmt.Errorf("image status: %w", err)
	}
	present := st.Image != nil
	if present && localImages[spec.Image] {
		return imageOf(st.Image), nil
	}
	switch {
	case c.ImagePullPolicy == corev1.PullNever && !present:
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		p.events.Event(ctx, pod, corev1.EventTypeWarning, ReasonErrImageNeverPull, msg)
		return podrun.Image{}, &PullError{Reason: ReasonErrImageNeverPull, Message: msg}
	case present && c.ImagePullPolicy != corev1.PullAlways:
		p.events.Event(ctx, pod, corev1.EventTypeNormal, "Pulled", fmt.Sprintf("Container image %q already present on machine", c.Image))
		return imageOf(st.Image), nil
	}
	// A pull that failed lately is not tried again before its back-off
	// ends: the registry is not asked on every sync of the pod.
	key := pullKey(pod, c.Image)
	if waiting := p.backoff.waiting(key, c.Image); waiting != nil {
		p.events.Event(ctx, pod, corev1.EventTypeNormal, "BackOff", fmt.Sprintf("Back-off pulling image %q", c.Image))
		return podrun.Image{}, waiting
	}
	p.events.Event(ctx, pod, corev1.EventTypeNormal, "Pulling", fmt.Sprintf("Pulling image %q", c.Image))
	started := time.Now()
	resp, err := p.pull(ctx, pod, spec)
	if err != nil {
		if ctx.Err() != nil {
			return podrun.Image{}, err // the agent stops: no failure of the image
		}
		p.backoff.failed(key, err)
		p.events.Event(ctx, pod, corev1.EventTypeWarning, "Failed", fmt.Sprintf("Failed to pull image %q: %v", c.Image, err))
		return podrun.Image{}, &PullError{Reason: ReasonErrImagePull, Message: err.Error()}
	}
	p.backoff.succeeded(key)
	p.events.Event(ctx, pod, corev1.EventTypeNormal, "Pulled", fmt.Sprintf("Successfully pulled image %q in %v", c.Image, time.Since(started).Round(time.Millisecond)))
	// The pulled image's config names its user.
	pulled, err := p.rt.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: resp.ImageRef}})
	if err != nil {
		return podrun.Image{}, fmt.Errorf("image status: %w", err)
	}
	if pulled.Image == nil {
		return podrun.Image{Ref: resp.ImageRef}, nil
	}
	img := imageOf(pulled.Image)
	img.Ref = resp.ImageRef
	return img, nil
}

// imageOf is the runtime's image as a container is created from it.
func imageOf(img *runtimeapi.Image) podrun.Image {
	out := podrun.Image{Ref: img.Id, Username: img.Username}
	if img.Uid != nil {
		uid := img.Uid.Value
		out.UID = &uid
	}
	return out
}

// localImages are built into the agent and imported at start: the node
// serves them itself and never asks a registry for them, whatever the
// pull policy (these machines reach no registry, and an Always pull of
// busybox:latest would otherwise leave the node).
var localImages = map[string]bool{builtin.PauseRef: true, builtin.BusyboxRef: true}

// normalizeImage spells a reference in full, as the runtime stores it:
// busybox -> docker.io/library/busybox:latest.
func normalizeImage(ref string) string {
	name, digest, hasDigest := strings.Cut(ref, "@")
	first, _, hasSlash := strings.Cut(name, "/")
	if !hasSlash {
		name = "docker.io/library/" + name
	} else if !strings.ContainsAny(first, ".:") && first != "localhost" {
		name = "docker.io/" + name
	}
	if !hasDigest {
		if i := strings.LastIndex(name, ":"); i < strings.LastIndex(name, "/") || i < 0 {
			name += ":latest"
		}
		return name
	}
	return name + "@" + digest
}

// pull asks the runtime for the image with each matching pull secret's
// credentials in turn, then anonymously, as the kubelet does.
func (p *Puller) pull(ctx context.Context, pod *corev1.Pod, spec *runtimeapi.ImageSpec) (*runtimeapi.PullImageResponse, error) {
	var firstErr error
	for _, auth := range append(p.pullCredentials(ctx, pod, spec.Image), nil) {
		resp, err := p.rt.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec, Auth: auth})
		if err == nil {
			return resp, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}
