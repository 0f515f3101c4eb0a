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
		if err := cri.RemoveSandbox(ctx, rt.Runtime, s.Id); err != nil {
			t.Log(err)
		}
	}
}

// runningContainerIDs are the IDs (as a pod status shows them,
// containerd://ID) of the running containers of the pods named pod.
func runningContainerIDs(rt *cri.Client, pod string) ([]string, error) {
	l, err := rt.Runtime.ListContainers(context.Background(), &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State:         &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
		LabelSelector: map[string]string{"io.kubernetes.pod.name": pod},
	}})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, c := range l.Containers {
		ids = append(ids, "containerd://"+c.Id)
	}
	return ids, nil
}
