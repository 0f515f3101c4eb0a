package e2e

import (
	"context"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/containerd"
	"github.com/flotilla-io/flotilla/pkg/cri"
)

// deleteWorkloads deletes, through the API and in every namespace, the
// workload controllers and then the pods, so that a cluster's cleanup
// leaves no sandbox behind. The controllers go first: a
// ReplicationController replaces a deleted pod, and that pod would run on
// once the server stops (a make test at ec2b2f5 left a redis-master pod
// behind this way).
func deleteWorkloads(kubectl func(stdin string, args ...string) result) {
	kubectl("", "delete", "deployments,replicasets,replicationcontrollers,daemonsets,statefulsets,jobs,cronjobs", "--all", "-A", "--timeout=60s")
	kubectl("", "delete", "pods", "--all", "-A", "--grace-period=1", "--timeout=60s")
}

// removeSandboxes stops and removes every pod sandbox the containerd of
// containerdDir still has (a node that never came back, a pod the API no
// longer knows), so no container or network namespace outlives the test.
func removeSandboxes(t *testing.T, containerdDir string) {
	rt, err := cri.Dial(containerd.Socket(containerdDir))
	if err != nil {
		return
	}
	defer rt.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := rt.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return
	}
	for _, s := range l.Items {
		if _, err := rt.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: s.Id}); err != nil {
			t.Logf("stop sandbox %s: %v", s.Id, err)
		}
		if _, err := rt.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: s.Id}); err != nil {
			t.Logf("remove sandbox %s: %v", s.Id, err)
		}
	}
}
