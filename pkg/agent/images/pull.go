package images

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
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

// Puller ensures images are present for containers.
type Puller struct {
	rt      Runtime
	secrets Secrets
	log     *slog.Logger
}

// NewPuller is a Puller asking rt, with credentials from secrets.
func NewPuller(rt Runtime, secrets Secrets, log *slog.Logger) *Puller {
	return &Puller{rt: rt, secrets: secrets, log: log}
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
		return podrun.Image{}, fmt.Errorf("container image %q is not present with pull policy of Never", c.Image)
	case present && c.ImagePullPolicy != corev1.PullAlways:
		return imageOf(st.Image), nil
	}
	resp, err := p.pull(ctx, pod, spec)
	if err != nil {
		return podrun.Image{}, err
	}
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
