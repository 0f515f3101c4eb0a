package cri

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	crierrors "k8s.io/cri-api/pkg/errors"
)

// SandboxRemover is the part of a CRI runtime service RemoveSandbox uses.
type SandboxRemover interface {
	StopPodSandbox(ctx context.Context, in *runtimeapi.StopPodSandboxRequest, opts ...grpc.CallOption) (*runtimeapi.StopPodSandboxResponse, error)
	RemovePodSandbox(ctx context.Context, in *runtimeapi.RemovePodSandboxRequest, opts ...grpc.CallOption) (*runtimeapi.RemovePodSandboxResponse, error)
}

// RemoveSandbox stops a pod sandbox (releasing its network) and removes
// it; a failed attempt can be repeated. A sandbox the runtime no longer
// knows was removed by someone else (an operator's crictl, or a teardown
// racing this one): that is the outcome wanted, not an error. containerd
// 1.6 answers NotFound to a stop of a removed sandbox although the CRI
// calls both requests idempotent.
func RemoveSandbox(ctx context.Context, rt SandboxRemover, id string) error {
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		if crierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("stop sandbox %s: %w", id, err)
	}
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil && !crierrors.IsNotFound(err) {
		return fmt.Errorf("remove sandbox %s: %w", id, err)
	}
	return nil
}
