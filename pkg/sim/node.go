package sim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/extensions"
)

// What simulated nodes report about themselves.
const (
	KubeletVersion = "v1.32.0-flotilla-sim"
	RuntimeVersion = "sim://1"
	InstanceType   = "flotilla-sim"
	fieldManager   = "flotilla-sim"
)

// simNode is one simulated node. cidr, ip and pods are fixed once Run
// has planned the addresses; node, lease and beats belong to whoever holds mu.
type simNode struct {
	name string
	cidr netip.Prefix
	ip   netip.Addr
	pods *ipPool

	mu    sync.Mutex
	node  *corev1.Node          // as last written
	lease *coordinationv1.Lease // as last written
	beats int                   // lease renewals since the last status refresh

	usageMu sync.Mutex
	meter   usageMeter // the node's CPU counter, held under usageMu
}

// nodeObject is the Node the sim registers for n.
func (s *Sim) nodeObject(n *simNode, now time.Time) *corev1.Node {
	labels := map[string]string{
		corev1.LabelHostname:           n.name,
		corev1.LabelOSStable:           "linux",
		corev1.LabelArchStable:         "amd64",
		corev1.LabelInstanceTypeStable: InstanceType,
	}
	maps.Copy(labels, s.cfg.Labels)
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: labels, Annotations: s.nodeAnnotations(n)},
		Spec:       corev1.NodeSpec{PodCIDR: n.cidr.String(), PodCIDRs: []string{n.cidr.String()}, Taints: s.cfg.Taints},
		Status:     s.nodeStatus(n, nil, now),
	}
}

// nodeStatus is n's status at now; transition times of conditions whose
// status prev already shows are kept.
func (s *Sim) nodeStatus(n *simNode, prev *corev1.Node, now time.Time) corev1.NodeStatus {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              s.cfg.CPU.DeepCopy(),
		corev1.ResourceMemory:           s.cfg.Memory.DeepCopy(),
		corev1.ResourcePods:             *resource.NewQuantity(int64(s.cfg.Pods), resource.DecimalSI),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	t := metav1.NewTime(now)
	cond := func(typ corev1.NodeConditionType, st corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		c := corev1.NodeCondition{Type: typ, Status: st, Reason: reason, Message: msg, LastHeartbeatTime: t, LastTransitionTime: t}
		if prev != nil {
			for _, old := range prev.Status.Conditions {
				if old.Type == typ && old.Status == st && !old.LastTransitionTime.IsZero() {
					c.LastTransitionTime = old.LastTransitionTime
				}
			}
		}
		return c
	}
	st := corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity.DeepCopy(),
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status (simulated)"),
		},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.ip.String()}, {Type: corev1.NodeHostName, Address: n.name}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               n.name,
			SystemUUID:              n.name,
			BootID:                  s.bootID,
			KernelVersion:           "sim",
			OSImage:                 "Flotilla simulated node",
			ContainerRuntimeVersion: RuntimeVersion,
			KubeletVersion:          KubeletVersion,
			OperatingSystem:         "linux",
			Architecture:            "amd64",
		},
		// No agent endpoint: the address is made up and must never be dialled.
		DaemonEndpoints: corev1.NodeDaemonEndpoints{},
	}
	if prev != nil {
		st.Images, st.VolumesInUse, st.VolumesAttached = prev.Status.Images, prev.Status.VolumesInUse, prev.Status.VolumesAttached
	}
	return st
}

// register creates n's Node, or takes over an existing one (a restarted
// sim), then its Lease.
func (s *Sim) register(ctx context.Context, n *simNode) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return s.registerLocked(ctx, n)
}

func (s *Sim) registerLocked(ctx context.Context, n *simNode) error {
	nodes := s.cs.CoreV1().Nodes()
	want := s.nodeObject(n, time.Now())
	got, err := nodes.Create(ctx, want, metav1.CreateOptions{FieldManager: fieldManager})
	if apierrors.IsAlreadyExists(err) {
		got, err = s.adoptNode(ctx, n, want)
	}
	if err != nil {
		return fmt.Errorf("register node %s: %w", n.name, err)
	}
	n.node, n.beats = got, 0
	if err := s.renewLease(ctx, n); err != nil {
		return fmt.Errorf("register node %s: %w", n.name, err)
	}
	return nil
}

// adoptNode brings an existing Node in line with want: labels and the
// annotation are merged, a missing pod CIDR is set, status is replaced.
// Taints are left to whoever manages them by now.
func (s *Sim) adoptNode(ctx context.Context, n *simNode, want *corev1.Node) (*corev1.Node, error) {
	nodes := s.cs.CoreV1().Nodes()
	cur, err := nodes.Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	next := cur.DeepCopy()
	if next.Labels == nil {
		next.Labels = map[string]string{}
	}
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	maps.Copy(next.Labels, want.Labels)
	maps.Copy(next.Annotations, want.Annotations)
	if _, ok := want.Annotations[extensions.StatsEndpointAnnotation]; !ok {
		delete(next.Annotations, extensions.StatsEndpointAnnotation) // an earlier sim's
	}
	if next.Spec.PodCIDR == "" {
		next.Spec.PodCIDR, next.Spec.PodCIDRs = want.Spec.PodCIDR, want.Spec.PodCIDRs
	}
	if !maps.Equal(next.Labels, cur.Labels) || !maps.Equal(next.Annotations, cur.Annotations) || next.Spec.PodCIDR != cur.Spec.PodCIDR {
		if next, err = nodes.Update(ctx, next, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return nil, err
		}
	}
	next.Status = s.nodeStatus(n, next, time.Now())
	return nodes.UpdateStatus(ctx, next, metav1.UpdateOptions{FieldManager: fieldManager})
}

// errNodeGone says a simulated node's Node was deleted under the sim.
var errNodeGone = errors.New("node was deleted")

// refreshStatus rewrites n's status with fresh heartbeats, from the Node
// last written, or from a fresh read when that is stale. n.mu is held.
func (s *Sim) refreshStatus(ctx context.Context, n *simNode) error {
	nodes := s.cs.CoreV1().Nodes()
	cur := n.node
	for attempt := 0; ; attempt++ {
		if cur == nil {
			var err error
			cur, err = nodes.Get(ctx, n.name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return errNodeGone
			}
			if err != nil {
				return fmt.Errorf("get node %s: %w", n.name, err)
			}
		}
		next := cur.DeepCopy()
		next.Status = s.nodeStatus(n, cur, time.Now())
		got, err := nodes.UpdateStatus(ctx, next, metav1.UpdateOptions{FieldManager: fieldManager})
		if err == nil {
			n.node = got
			return nil
		}
		n.node, cur = nil, nil
		if attempt > 0 || !(apierrors.IsConflict(err) || apierrors.IsNotFound(err)) {
			return fmt.Errorf("update status of node %s: %w", n.name, err)
		}
	}
}
