// Package admission decides, once per pod, whether a node agent runs a
// pod bound to its node, as upstream's kubelet admits pods: a pod bound
// with spec.nodeName set at creation never met the scheduler, so the node
// checks what the scheduler would have. A pod is admitted when it fits in
// the node's allocatable next to the pods admitted before it (and not yet
// finished), claims no host port one of them holds, matches the node's
// labels (nodeSelector, required node affinity), suits the node's
// pressure (none refused under memory pressure but BestEffort pods, all
// under disk or pid pressure, critical ones never), tolerates the node's
// NoExecute taints (static pods excepted) and sets only the sysctls the
// node allows (the safe set and --allowed-unsafe-sysctls). Otherwise it is rejected with
// upstream's reason (the failed filter's name, or OutOf<resource>) and
// message; the agent fails it for good.
//
// Decisions are taken one at a time, in the order the pods were created,
// so two pods synced at once cannot both take the same port or the last
// cpu, and are never revisited: an admitted pod stays admitted whatever
// happens to the node, a rejected one stays rejected.
package admission

import (
	"fmt"
	"runtime"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flotilla-io/flotilla/pkg/podutil"
	"github.com/flotilla-io/flotilla/pkg/scheduler"
)

// Reasons of rejections that are not filter failures, as upstream's.
const (
	ReasonInvalidNode    = "InvalidNodeInfo"
	ReasonOSLabel        = "PodOSSelectorNodeLabelDoesNotMatch"
	ReasonOSNotSupported = "PodOSNotSupported"
	InsufficientPrefix   = "OutOf"
)

// configSource is the kubelet's annotation naming where a pod comes from.
const configSource = "kubernetes.io/config.source"

// Result is an admission decision. A rejection has a one-word reason
// (NodePorts, NodeAffinity, TaintToleration, OutOfcpu, ...) and a message.
type Result struct {
	Admit           bool
	Reason, Message string
}

// Check decides whether node runs pod next to others, the pods it runs
// already (finished ones are not counted). The first failure found, in
// upstream's order, is the reason.
func Check(pod *corev1.Pod, node *corev1.Node, others []*corev1.Pod) Result {
	if node == nil {
		return Result{Reason: ReasonInvalidNode, Message: "Kubelet cannot get node info."}
	}
	if r, refused := checkPressure(pod, node); refused {
		return r
	}
	if osName, ok := pod.Labels[corev1.LabelOSStable]; ok && osName != runtime.GOOS {
		return Result{Reason: ReasonOSLabel, Message: "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"}
	}
	if pod.Spec.OS != nil && string(pod.Spec.OS.Name) != runtime.GOOS {
		return Result{Reason: ReasonOSNotSupported, Message: "Failed to admit pod as the OS field doesn't match node OS"}
	}
	fails := scheduler.AdmissionCheck(pod, scheduler.NewNodeInfo(node, others...))
	// The kubelet minds only NoExecute taints, and not for static pods.
	if !isStatic(pod) {
		if _, bad := scheduler.UntoleratedTaint(node.Spec.Taints, pod.Spec.Tolerations, corev1.TaintEffectNoExecute); bad {
			fails = append(fails, scheduler.AdmissionFailure{Filter: scheduler.FilterTaintToleration, Reason: scheduler.MsgTaints})
		}
	}
	if len(fails) == 0 {
		return Result{Admit: true}
	}
	f := fails[0]
	if r := f.Insufficient; r != nil {
		return Result{
			Reason:  InsufficientPrefix + string(r.Name),
			Message: fmt.Sprintf("Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d", r.Name, r.Requested, r.Used, r.Capacity),
		}
	}
	return Result{Reason: f.Filter, Message: fmt.Sprintf("Predicate %s failed: %s", f.Filter, f.Reason)}
}

// isStatic: a pod of a manifest, not of the API server.
func isStatic(pod *corev1.Pod) bool {
	src, ok := pod.Annotations[configSource]
	return ok && src != "api"
}

// Admitter takes and remembers the decisions of one node agent.
type Admitter struct {
	node    func() *corev1.Node  // the node as the API server has it
	pods    func() []*corev1.Pod // the pods bound to the node, static ones included, mirrors not
	sysctls *SysctlAllowlist     // nil: the safe sysctls only

	mu      sync.Mutex
	decided map[types.UID]*decision
}

type decision struct {
	Result
	told bool // returned to the pod's own Admit
}

// New makes an admitter reading the node and its pods through the
// functions given.
func New(node func() *corev1.Node, pods func() []*corev1.Pod) *Admitter {
	return &Admitter{node: node, pods: pods, decided: map[types.UID]*decision{}}
}

// AllowSysctls replaces the sysctls pods may set (the safe ones by
// default); it is meant to be called before the first decision.
func (a *Admitter) AllowSysctls(w *SysctlAllowlist) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sysctls = w
}

// Running records a pod the node runs already (it has a sandbox): it was
// admitted before and is not checked.
func (a *Admitter) Running(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if d := a.decided[uid]; d == nil || !d.Admit {
		a.decided[uid] = &decision{Result: Result{Admit: true}, told: true}
	}
}

// Admit returns the decision for pod and whether this is the first time
// it is returned (when a rejection is to be reported). A pod not decided
// yet is decided now, after every undecided pod created before it.
func (a *Admitter) Admit(pod *corev1.Pod) (Result, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if d := a.decided[pod.UID]; d != nil {
		first := !d.told
		d.told = true
		return d.Result, first
	}
	live := map[types.UID]*corev1.Pod{}
	for _, p := range a.pods() {
		live[p.UID] = p
	}
	live[pod.UID] = pod
	// Pods gone from the node hold nothing any more.
	for uid := range a.decided {
		if live[uid] == nil {
			delete(a.decided, uid)
		}
	}
	var others, queue []*corev1.Pod
	for uid, p := range live {
		switch d := a.decided[uid]; {
		case d != nil:
			if d.Admit && !podutil.IsPodTerminal(p) {
				others = append(others, p)
			}
		case p == pod || podutil.IsPodActive(p) && !before(pod, p):
			queue = append(queue, p)
		}
	}
	sort.Slice(queue, func(i, j int) bool { return before(queue[i], queue[j]) })
	node := a.node()
	for _, p := range queue {
		// Sysctls first, as the kubelet's handlers run: a pod the node
		// must not run holds none of its resources.
		res := a.sysctls.Check(p)
		if res.Admit {
			res = Check(p, node, others)
		}
		a.decided[p.UID] = &decision{Result: res}
		if res.Admit {
			others = append(others, p)
		}
	}
	d := a.decided[pod.UID]
	d.told = true
	return d.Result, true
}

// before orders pods by creation, as upstream's kubelet admits them;
// pods of the same second by namespace, name and UID.
func before(p, q *corev1.Pod) bool {
	if !p.CreationTimestamp.Equal(&q.CreationTimestamp) {
		return p.CreationTimestamp.Before(&q.CreationTimestamp)
	}
	if p.Namespace != q.Namespace {
		return p.Namespace < q.Namespace
	}
	if p.Name != q.Name {
		return p.Name < q.Name
	}
	return p.UID < q.UID
}

// RetainPods forgets the decisions about every pod live says is gone and
// returns how many it forgot.
func (a *Admitter) RetainPods(live func(types.UID) bool) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for uid := range a.decided {
		if !live(uid) {
			delete(a.decided, uid)
			n++
		}
	}
	return n
}

// PodCount is how many pods decisions are remembered for.
func (a *Admitter) PodCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.decided)
}
