package agent

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/agent/podnet"
	"github.com/flotilla-io/flotilla/pkg/scheduler"
	"github.com/flotilla-io/flotilla/pkg/version"
)

// Lease timing, as upstream's kubelet: renew every 10 s, 40 s of silence
// makes the node lost.
const (
	leaseRenew    = 10 * time.Second
	leaseDuration = 40
	statusEvery   = 10 * time.Second
)

// nodeObject describes this machine as a Node.
func (a *Agent) nodeObject() *corev1.Node {
	labels := map[string]string{
		corev1.LabelHostname:   a.cfg.NodeName,
		corev1.LabelOSStable:   runtime.GOOS,
		corev1.LabelArchStable: runtime.GOARCH,
	}
	for k, v := range a.cfg.Labels {
		labels[k] = v
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: a.cfg.Taints},
		Status:     a.nodeStatus(),
	}
	if p := a.podCIDR.Load(); p != nil {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = p.String(), []string{p.String()}
	}
	return n
}

// measureCapacity is what the machine has.
func (a *Agent) measureCapacity() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(memTotal(), resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(int64(a.cfg.MaxPods), resource.DecimalSI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(diskTotal(a.cfg.DataDir), resource.BinarySI),
	}
}

// allocatableCache keeps the node's capacity and allocatable as the node
// status last measured them (every 10 s), so that the env vars and
// downward API files that show the allocatable do not each read
// /proc/meminfo and statfs the disk again.
type allocatableCache struct {
	measure func() corev1.ResourceList // the capacity
	// allocatable is what of a capacity pods may have.
	allocatable func(capacity corev1.ResourceList) corev1.ResourceList
	last        atomic.Pointer[corev1.ResourceList]
}

// refresh measures the capacity and keeps the allocatable.
func (c *allocatableCache) refresh() (capacity, allocatable corev1.ResourceList) {
	capacity = c.measure()
	allocatable = capacity.DeepCopy()
	if c.allocatable != nil {
		allocatable = c.allocatable(capacity)
	}
	kept := allocatable.DeepCopy()
	c.last.Store(&kept)
	return capacity, allocatable
}

// get is the allocatable last measured; it is measured now if it never
// was. Callers must not modify it.
func (c *allocatableCache) get() corev1.ResourceList {
	if l := c.last.Load(); l != nil {
		return *l
	}
	_, l := c.refresh()
	return l
}

func (a *Agent) nodeStatus() corev1.NodeStatus {
	capacity, allocatable := a.alloc.refresh()
	now := metav1.Now()
	// The transition times are now; updateNodeStatus keeps the previous
	// ones of conditions whose status did not change.
	conds := append(a.pressure.Conditions(), a.readyCondition())
	for i := range conds {
		conds[i].LastHeartbeatTime, conds[i].LastTransitionTime = now, now
	}
	hostname, _ := os.Hostname()
	uname := unameRelease()
	st := corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: allocatable,
		Phase:       corev1.NodeRunning,
		Conditions:  conds,
		Addresses:   []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: a.nodeIP}, {Type: corev1.NodeHostName, Address: hostname}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               readTrim("/etc/machine-id"),
			BootID:                  readTrim("/proc/sys/kernel/random/boot_id"),
			KernelVersion:           uname,
			OSImage:                 osImage(),
			ContainerRuntimeVersion: a.runtimeVersion,
			KubeletVersion:          version.Info().GitVersion,
			KubeProxyVersion:        "",
			OperatingSystem:         runtime.GOOS,
			Architecture:            runtime.GOARCH,
		},
	}
	if a.cfg.Stream != nil {
		st.DaemonEndpoints.KubeletEndpoint.Port = int32(a.cfg.Stream.Port)
	}
	return st
}

// registerNode creates the Node, or takes over an existing one of the same
// name (a restart), refreshing its status.
func (a *Agent) registerNode(ctx context.Context) error {
	want := a.nodeObject()
	nodes := a.cs.CoreV1().Nodes()
	_, err := nodes.Create(ctx, want, metav1.CreateOptions{FieldManager: "flotilla-agent"})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register node: %w", err)
	}
	cur, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("register node: %w", err)
	}
	for k, v := range want.Labels {
		if cur.Labels == nil {
			cur.Labels = map[string]string{}
		}
		cur.Labels[k] = v
	}
	if want.Spec.PodCIDR != "" {
		cur.Spec.PodCIDR, cur.Spec.PodCIDRs = want.Spec.PodCIDR, want.Spec.PodCIDRs
	}
	if cur, err = nodes.Update(ctx, cur, metav1.UpdateOptions{FieldManager: "flotilla-agent"}); err != nil {
		return fmt.Errorf("register node: %w", err)
	}
	cur.Status = want.Status
	_, err = nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{FieldManager: "flotilla-agent"})
	return err
}

// heartbeat renews the Lease every 10 s and the Node's status.
func (a *Agent) heartbeat(ctx context.Context) {
	leaseT := time.NewTicker(leaseRenew)
	defer leaseT.Stop()
	statusT := time.NewTicker(statusEvery)
	defer statusT.Stop()
	a.renewLease(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-leaseT.C:
			a.renewLease(ctx)
			continue
		case <-statusT.C:
		case <-a.statusNow: // a condition changed: report it now
		}
		if err := a.updateNodeStatus(ctx); err != nil {
			a.log.Warn("node status", "err", err)
		}
	}
}

func (a *Agent) updateNodeStatus(ctx context.Context) error {
	cur, err := a.cs.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return a.registerNode(ctx) // deleted while we run: come back
	}
	if err != nil {
		return err
	}
	fresh := a.nodeStatus()
	// Transition times move only when a condition's status changes.
	for i, c := range fresh.Conditions {
		for _, old := range cur.Status.Conditions {
			if old.Type == c.Type && old.Status == c.Status {
				fresh.Conditions[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	fresh.Images = cur.Status.Images
	keepExtendedResources(&fresh, &cur.Status)
	cur.Status = fresh
	_, err = a.cs.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{FieldManager: "flotilla-agent"})
	return err
}

func (a *Agent) renewLease(ctx context.Context) {
	leases := a.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NowMicro()
	l, err := leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: corev1.NamespaceNodeLease},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(a.cfg.NodeName), LeaseDurationSeconds: ptr.To(int32(leaseDuration)), RenewTime: &now},
		}
		if node, err := a.cs.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{}); err == nil {
			l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{FieldManager: "flotilla-agent"})
		if err != nil {
			a.log.Warn("create lease", "err", err)
		}
	case err != nil:
		a.log.Warn("get lease", "err", err)
	default:
		l.Spec.RenewTime, l.Spec.HolderIdentity = &now, ptr.To(a.cfg.NodeName)
		l.Spec.LeaseDurationSeconds = ptr.To(int32(leaseDuration))
		if _, err := leases.Update(ctx, l, metav1.UpdateOptions{FieldManager: "flotilla-agent"}); err != nil {
			a.log.Warn("renew lease", "err", err)
		}
	}
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func diskTotal(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0
	}
	return int64(st.Blocks) * st.Bsize
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func unameRelease() string { return readTrim("/proc/sys/kernel/osrelease") }

func osImage() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return runtime.GOOS
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}

// DefaultNodeIP is the address a node reports when none is configured,
// the one other nodes would reach it on: the first global unicast IPv4
// of an interface that is up (not podBridge, the node's pod bridge),
// else loopback.
func DefaultNodeIP(podBridge string) string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "127.0.0.1"
	}
	for _, ifc := range ifaces {
		// Not the pod network's own devices (the bridge, the VXLAN device
		// holding a pod-range address) nor pods' veths.
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || ifc.Name == podBridge || ifc.Name == podnet.VXLANDevice || strings.HasPrefix(ifc.Name, "veth") {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// keepExtendedResources carries over the extended resources (example.com/
// gpu, ...) that others advertise in the Node's status, as the kubelet
// does: the agent reports only the resources it measures.
func keepExtendedResources(fresh, cur *corev1.NodeStatus) {
	for _, lists := range [][2]*corev1.ResourceList{{&fresh.Capacity, &cur.Capacity}, {&fresh.Allocatable, &cur.Allocatable}} {
		for name, q := range *lists[1] {
			if _, ours := (*lists[0])[name]; ours || !scheduler.IsExtendedResource(name) {
				continue
			}
			if *lists[0] == nil {
				*lists[0] = corev1.ResourceList{}
			}
			(*lists[0])[name] = q
		}
	}
}
