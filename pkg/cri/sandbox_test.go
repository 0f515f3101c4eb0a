package cri

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// sandboxes answers as containerd 1.6 does: NotFound to a stop of a
// sandbox it does not hold, nothing to a remove of one.
type sandboxes struct {
	held    map[string]bool
	stopErr error // answered to every stop when set
}

func (s *sandboxes) StopPodSandbox(_ context.Context, in *runtimeapi.StopPodSandboxRequest, _ ...grpc.CallOption) (*runtimeapi.StopPodSandboxResponse, error) {
	if s.stopErr != nil {
		return nil, s.stopErr
	}
	if !s.held[in.PodSandboxId] {
		return nil, status.Errorf(codes.NotFound, "an error occurred when try to find sandbox %q: not found", in.PodSandboxId)
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

func (s *sandboxes) RemovePodSandbox(_ context.Context, in *runtimeapi.RemovePodSandboxRequest, _ ...grpc.CallOption) (*runtimeapi.RemovePodSandboxResponse, error) {
	delete(s.held, in.PodSandboxId)
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

// A sandbox is removed; one that someone else removed first (the runtime
// answers NotFound) counts as removed; any other failure is reported.
func TestRemoveSandbox(t *testing.T) {
	ctx := context.Background()
	rt := &sandboxes{held: map[string]bool{"sb-1": true}}
	if err := RemoveSandbox(ctx, rt, "sb-1"); err != nil || rt.held["sb-1"] {
		t.Errorf("removing a sandbox: %v, still held %v", err, rt.held["sb-1"])
	}
	if err := RemoveSandbox(ctx, rt, "sb-1"); err != nil {
		t.Errorf("removing a sandbox that is already gone: %v", err)
	}
	rt.held["sb-2"] = true
	rt.stopErr = status.Error(codes.Unavailable, "connection refused")
	if err := RemoveSandbox(ctx, rt, "sb-2"); status.Code(errors.Unwrap(err)) != codes.Unavailable || !rt.held["sb-2"] {
		t.Errorf("an unavailable runtime: got %v, want the Unavailable error and the sandbox kept", err)
	}
}
