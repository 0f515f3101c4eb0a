package daemonset

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// manage brings every node to the pods it should have: a pod where one
// should run and none is, none where none may stay, failed pods replaced
// (with back-off) and extra pods removed.
func (c *Controller) manage(ctx context.Context, ds *appsv1.DaemonSet, key string, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string) error {
	_, surge := rollingLimits(ds, 1)
	var create []string
	var del []*corev1.Pod
	known := map[string]bool{}
	now := time.Now()
	for _, node := range nodes {
		known[node.Name] = true
		run, keep := shouldRun(node, ds)
		pods := byNode[node.Name]
		switch {
		case run && len(pods) == 0:
			create = append(create, node.Name)
		case keep:
			var running []*corev1.Pod
			for _, p := range pods {
				if p.DeletionTimestamp != nil {
					continue
				}
				if podutil.IsPodTerminal(p) {
					id := string(ds.UID) + "/" + node.Name
					if p.Status.Phase == corev1.PodFailed && c.backoff.IsInBackOffSinceUpdate(id, now) {
						c.queue.AddAfter(key, c.backoff.Get(id))
						continue
					}
					if p.Status.Phase == corev1.PodFailed {
						c.backoff.Next(id, now)
						c.recorder.Eventf(ds, corev1.EventTypeWarning, ReasonFailedDaemonPod, "Found failed daemon pod %s/%s on node %s, will try to kill it", p.Namespace, p.Name, node.Name)
					}
					del = append(del, p)
					continue
				}
				running = append(running, p)
			}
			if len(running) <= 1 {
				break
			}
			if surge == 0 { // keep the oldest
				del = append(del, running[1:]...)
				break
			}
			// Surging: the oldest current pod may sit beside the oldest
			// old one until it is available; the rest go.
			var newest, oldest *corev1.Pod
			for _, p := range running {
				switch {
				case p.Labels[appsv1.ControllerRevisionHashLabelKey] == hash && newest == nil:
					newest = p
				case p.Labels[appsv1.ControllerRevisionHashLabelKey] != hash && oldest == nil:
					oldest = p
				default:
					del = append(del, p)
				}
			}
			if newest != nil && oldest != nil && (!podutil.IsPodReady(oldest) || podutil.IsPodAvailable(newest, ds.Spec.MinReadySeconds, now)) {
				del = append(del, oldest)
			}
		default: // may not stay
			for _, p := range pods {
				if p.DeletionTimestamp == nil {
					del = append(del, p)
				}
			}
		}
	}
	// Pods for nodes that are gone: nothing will run or stop them, so
	// they go at once.
	var gone []*corev1.Pod
	for name, pods := range byNode {
		if known[name] {
			continue
		}
		for _, p := range pods {
			if p.DeletionTimestamp == nil || p.Spec.NodeName != "" {
				gone = append(gone, p)
			}
		}
	}
	return c.syncNodes(ctx, ds, key, create, del, gone, hash)
}

// syncNodes creates a pod on each node of create and deletes the pods of
// del (gracefully) and gone (immediately), recording expectations first.
// Creations go in batches of 1, 2, 4, … and stop at the first batch with
// a failure, as upstream's slow start.
func (c *Controller) syncNodes(ctx context.Context, ds *appsv1.DaemonSet, key string, create []string, del, gone []*corev1.Pod, hash string) error {
	if len(create) == 0 && len(del) == 0 && len(gone) == 0 {
		return nil
	}
	if len(create) > 0 {
		// The cache can lag behind ds's deletion while the garbage
		// collector already deletes its pods: never replace them then.
		if current, err := c.current(ctx, ds); err != nil {
			return err
		} else if !current {
			c.log.Debug("not creating pods: gone, replaced or being deleted", "daemonset", key)
			return nil
		}
	}
	var uids []types.UID
	for _, p := range append(append([]*corev1.Pod(nil), del...), gone...) {
		uids = append(uids, p.UID)
	}
	c.expect.expect(key, len(create), uids)

	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	var wg sync.WaitGroup
	for _, p := range del {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.deletePod(ctx, ds, key, p, nil, fail)
		}()
	}
	zero := int64(0)
	for _, p := range gone {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.deletePod(ctx, ds, key, p, &zero, fail)
		}()
	}
	wg.Wait()

	tmpl := podTemplate(ds, hash)
	for start, batch := 0, 1; start < len(create); start, batch = start+batch, batch*2 {
		end := min(start+batch, len(create))
		var failed bool
		var bw sync.WaitGroup
		for _, node := range create[start:end] {
			bw.Add(1)
			go func() {
				defer bw.Done()
				if err := c.createPod(ctx, ds, key, tmpl, node); err != nil {
					mu.Lock()
					failed = true
					mu.Unlock()
					fail(err)
				}
			}()
		}
		bw.Wait()
		if failed {
			for range create[end:] { // never issued
				c.expect.created(key)
			}
			break
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) createPod(ctx context.Context, ds *appsv1.DaemonSet, key string, tmpl *corev1.PodTemplateSpec, node string) error {
	pod := &corev1.Pod{
		ObjectMeta: *tmpl.ObjectMeta.DeepCopy(),
		Spec:       *tmpl.Spec.DeepCopy(),
	}
	pod.Namespace, pod.GenerateName = ds.Namespace, ds.Name+"-"
	pod.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)}
	pinToNode(&pod.Spec, node)
	created, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{FieldManager: fieldManager})
	if err != nil {
		c.expect.created(key)
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil // nothing to do in a namespace being deleted
		}
		c.recorder.Eventf(ds, corev1.EventTypeWarning, ReasonFailedCreate, "Error creating: %v", err)
		return fmt.Errorf("create pod for node %s: %w", node, err)
	}
	c.log.Debug("created pod", "daemonset", key, "pod", created.Name, "node", node)
	c.recorder.Eventf(ds, corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created pod: %s", created.Name)
	return nil
}

func (c *Controller) deletePod(ctx context.Context, ds *appsv1.DaemonSet, key string, p *corev1.Pod, grace *int64, fail func(error)) {
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: grace, Preconditions: &metav1.Preconditions{UID: &p.UID},
	})
	if err != nil {
		c.expect.deleted(key, p.UID)
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return // already gone (or replaced)
		}
		c.recorder.Eventf(ds, corev1.EventTypeWarning, ReasonFailedDelete, "Error deleting: %v", err)
		fail(fmt.Errorf("delete pod %s: %w", p.Name, err))
		return
	}
	c.log.Debug("deleted pod", "daemonset", key, "pod", p.Name, "node", targetNode(p))
	c.recorder.Eventf(ds, corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted pod: %s", p.Name)
}

// templateGenerationAnnotation is upstream's deprecated template
// generation, honoured when a DaemonSet carries it.
const templateGenerationAnnotation = "deprecated.daemonset.template.generation"

// podTemplate is ds's template as its pods get it: hash label, default
// tolerations; pinToNode adds the node.
func podTemplate(ds *appsv1.DaemonSet, hash string) *corev1.PodTemplateSpec {
	t := ds.Spec.Template.DeepCopy()
	t.Labels = maps.Clone(t.Labels)
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	t.Labels[appsv1.ControllerRevisionHashLabelKey] = hash
	if g := ds.Annotations[templateGenerationAnnotation]; g != "" {
		t.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = g
	}
	withDefaultTolerations(&t.Spec)
	return t
}

// updated reports whether a pod runs ds's current template.
func updated(p *corev1.Pod, ds *appsv1.DaemonSet, hash string) bool {
	if p.Labels[appsv1.ControllerRevisionHashLabelKey] == hash {
		return true
	}
	g := ds.Annotations[templateGenerationAnnotation]
	return g != "" && p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == g && p.Labels[appsv1.ControllerRevisionHashLabelKey] == ""
}

// rollingLimits are maxUnavailable and maxSurge scaled to desired nodes
// (percentages rounded up); both zero means one unavailable at a time.
func rollingLimits(ds *appsv1.DaemonSet, desired int) (unavailable, surge int) {
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		return 0, 0
	}
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ru == nil {
		return 1, 0
	}
	scale := func(v *intstr.IntOrString) int {
		if v == nil {
			return 0
		}
		n, err := intstr.GetScaledValueFromIntOrPercent(v, desired, true)
		if err != nil || n < 0 {
			return 0
		}
		return n
	}
	unavailable, surge = scale(ru.MaxUnavailable), scale(ru.MaxSurge)
	if unavailable == 0 && surge == 0 {
		unavailable = 1
	}
	return unavailable, surge
}

// currentAndOld splits a node's pods into its one current and one old
// pod; ok is false when there are several of a kind (manage prunes them).
func currentAndOld(pods []*corev1.Pod, ds *appsv1.DaemonSet, hash string) (cur, old *corev1.Pod, ok bool) {
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if updated(p, ds, hash) {
			if cur != nil {
				return nil, nil, false
			}
			cur = p
		} else {
			if old != nil {
				return nil, nil, false
			}
			old = p
		}
	}
	return cur, old, true
}

// rollingUpdate replaces old pods within the budget: without surge it
// deletes old pods (unavailable ones freely, available ones while fewer
// than maxUnavailable eligible nodes lack an available pod) and manage
// recreates them; with surge it creates the new pod beside an available
// old one while fewer than maxSurge are pending, and deletes the old pod
// once the new one is available.
func (c *Controller) rollingUpdate(ctx context.Context, ds *appsv1.DaemonSet, key string, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string) error {
	now := time.Now()
	var eligible []*corev1.Node
	for _, n := range nodes {
		if run, _ := shouldRun(n, ds); run {
			eligible = append(eligible, n)
		}
	}
	maxUnavailable, maxSurge := rollingLimits(ds, len(eligible))
	if maxSurge == 0 {
		unavailable := 0
		var free, candidates []*corev1.Pod
		for _, n := range eligible {
			cur, old, ok := currentAndOld(byNode[n.Name], ds, hash)
			switch {
			case !ok, cur == nil && old == nil, cur != nil && old != nil:
				unavailable++
			case cur != nil:
				if !podutil.IsPodAvailable(cur, ds.Spec.MinReadySeconds, now) {
					unavailable++
				}
			case !podutil.IsPodAvailable(old, ds.Spec.MinReadySeconds, now):
				free = append(free, old) // down already: replacing costs nothing
			default:
				candidates = append(candidates, old)
			}
		}
		budget := max(0, min(maxUnavailable-unavailable, len(candidates)))
		return c.syncNodes(ctx, ds, key, nil, append(free, candidates[:budget]...), nil, hash)
	}
	surging := 0
	var del []*corev1.Pod
	var free, candidates []string
	for _, n := range eligible {
		cur, old, ok := currentAndOld(byNode[n.Name], ds, hash)
		switch {
		case !ok:
			surging++
		case old == nil:
			// up to date, or manage creates the pod
		case cur == nil && !podutil.IsPodAvailable(old, ds.Spec.MinReadySeconds, now):
			free = append(free, n.Name)
		case cur == nil:
			candidates = append(candidates, n.Name)
		case !podutil.IsPodAvailable(cur, ds.Spec.MinReadySeconds, now):
			surging++
		default:
			del = append(del, old)
		}
	}
	budget := max(0, min(maxSurge-surging, len(candidates)))
	return c.syncNodes(ctx, ds, key, append(free, candidates[:budget]...), del, nil, hash)
}

// updateStatus writes the status the nodes and pods show, and requeues
// while pods wait out minReadySeconds.
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, key string, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string) error {
	now := time.Now()
	st := appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, CollisionCount: ds.Status.CollisionCount, Conditions: ds.Status.Conditions}
	for _, n := range nodes {
		run, _ := shouldRun(n, ds)
		pods := byNode[n.Name]
		switch {
		case run:
			st.DesiredNumberScheduled++
			if len(pods) == 0 {
				continue
			}
			st.CurrentNumberScheduled++
			p := pods[0] // the oldest
			if podutil.IsPodReady(p) {
				st.NumberReady++
				if podutil.IsPodAvailable(p, ds.Spec.MinReadySeconds, now) {
					st.NumberAvailable++
				}
			}
			if updated(p, ds, hash) {
				st.UpdatedNumberScheduled++
			}
		case len(pods) > 0:
			st.NumberMisscheduled++
		}
	}
	st.NumberUnavailable = max(0, st.DesiredNumberScheduled-st.NumberAvailable)
	if ds.Spec.MinReadySeconds > 0 && st.NumberReady != st.NumberAvailable {
		c.queue.AddAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	if equalJSON(st, ds.Status) {
		return nil
	}
	fresh := ds.DeepCopy()
	fresh.Status = st
	if _, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		if apierrors.IsConflict(err) {
			return err
		}
		return fmt.Errorf("update status: %w", err)
	}
	return nil
}
