package daemonset

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/flotilla-io/flotilla/pkg/controller/history"
	"github.com/flotilla-io/flotilla/pkg/controller/refmanager"
)

// templateHash names a template version: FNV-32a of its JSON and the
// collision count, in the alphabet upstream uses for generated names.
func templateHash(tmpl *corev1.PodTemplateSpec, collisions *int32) string {
	h := fnv.New32a()
	b, _ := json.Marshal(tmpl) // a typed struct always marshals
	h.Write(b)
	if collisions != nil {
		var buf [4]byte
		binary.LittleEndian.PutUint32(buf[:], uint32(*collisions))
		h.Write(buf[:])
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// revisionData is what a ControllerRevision of ds holds: a strategic
// merge patch replacing spec.template, byte for byte what kubectl and
// upstream's e2e suite compute from the DaemonSet to tell whether a
// revision is current.
func revisionData(ds *appsv1.DaemonSet) ([]byte, error) {
	return history.TemplatePatch(&ds.Spec.Template)
}

// history finds (creating it if needed) the revision of ds's current
// template and returns it with the other revisions ds owns. The current
// revision always carries the highest revision number: a template rolled
// back to gets its old revision renumbered, as upstream.
func (c *Controller) history(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector) (cur *appsv1.ControllerRevision, old []*appsv1.ControllerRevision, err error) {
	all, err := c.revisions.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, nil, fmt.Errorf("list revisions: %w", err)
	}
	owned, err := refmanager.Claim(ctx, c.asOwner(ds, sel), refmanager.ControllerRevisions(c.client, fieldManager), all)
	if err != nil {
		return nil, nil, err
	}
	data, err := revisionData(ds)
	if err != nil {
		return nil, nil, err
	}
	var maxRev int64
	for _, r := range owned {
		if history.Same(r.Data.Raw, data) && (cur == nil || r.Revision > cur.Revision) {
			if cur != nil {
				old = append(old, cur)
			}
			cur = r
			continue
		}
		old = append(old, r)
	}
	for _, r := range old {
		maxRev = max(maxRev, r.Revision)
	}
	switch {
	case cur == nil:
		if cur, err = c.createRevision(ctx, ds, data, maxRev+1); err != nil {
			return nil, nil, err
		}
	case cur.Revision <= maxRev:
		fresh := cur.DeepCopy()
		fresh.Revision = maxRev + 1
		if cur, err = c.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return nil, nil, fmt.Errorf("renumber revision %s: %w", fresh.Name, err)
		}
	}
	if cur.Labels[appsv1.ControllerRevisionHashLabelKey] == "" {
		return nil, nil, fmt.Errorf("revision %s has no %s label", cur.Name, appsv1.ControllerRevisionHashLabelKey)
	}
	return cur, old, nil
}

// createRevision stores the current template as revision number rev. A
// name taken by a different template is a hash collision: the collision
// count in status goes up and the sync is retried with a new hash.
func (c *Controller) createRevision(ctx context.Context, ds *appsv1.DaemonSet, data []byte, rev int64) (*appsv1.ControllerRevision, error) {
	hash := templateHash(&ds.Spec.Template, ds.Status.CollisionCount)
	lbls := maps.Clone(ds.Spec.Template.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	lbls[appsv1.ControllerRevisionHashLabelKey] = hash
	r := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name: ds.Name + "-" + hash, Namespace: ds.Namespace, Labels: lbls,
			Annotations:     maps.Clone(ds.Annotations),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: rev,
	}
	created, err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Create(ctx, r, metav1.CreateOptions{FieldManager: fieldManager})
	if err == nil {
		return created, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create revision %s: %w", r.Name, err)
	}
	existing, gerr := c.client.AppsV1().ControllerRevisions(ds.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
	if gerr != nil {
		return nil, fmt.Errorf("get revision %s: %w", r.Name, gerr)
	}
	if ref := metav1.GetControllerOfNoCopy(existing); ref != nil && ref.UID == ds.UID && history.Same(existing.Data.Raw, data) {
		return existing, nil // our cache was behind
	}
	fresh := ds.DeepCopy()
	n := int32(0)
	if fresh.Status.CollisionCount != nil {
		n = *fresh.Status.CollisionCount
	}
	n++
	fresh.Status.CollisionCount = &n
	if _, uerr := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager}); uerr != nil {
		return nil, fmt.Errorf("record hash collision: %w", uerr)
	}
	return nil, fmt.Errorf("revision name %s taken by another template; collision count now %d", r.Name, n)
}

// pruneHistory deletes the oldest revisions beyond revisionHistoryLimit
// that no pod of ds still runs.
func (c *Controller) pruneHistory(ctx context.Context, ds *appsv1.DaemonSet, old []*appsv1.ControllerRevision, pods []*corev1.Pod) error {
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	excess := len(old) - limit
	if excess <= 0 {
		return nil
	}
	live := map[string]bool{}
	for _, p := range pods {
		if h := p.Labels[appsv1.ControllerRevisionHashLabelKey]; h != "" {
			live[h] = true
		}
	}
	sorted := append([]*appsv1.ControllerRevision(nil), old...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Revision < sorted[j].Revision })
	for _, r := range sorted {
		if excess <= 0 {
			break
		}
		if live[r.Labels[appsv1.ControllerRevisionHashLabelKey]] {
			continue
		}
		err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &r.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete revision %s: %w", r.Name, err)
		}
		excess--
	}
	return nil
}
