package statefulset

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
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

// DefaultRevisionHistoryLimit applies when spec.revisionHistoryLimit is unset.
const DefaultRevisionHistoryLimit = 10

// templateOf decodes the template recorded in a revision.
func templateOf(rev *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var data struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(rev.Data.Raw, &data); err != nil {
		return nil, fmt.Errorf("decode revision %s: %w", rev.Name, err)
	}
	return &data.Spec.Template, nil
}

// setAtRevision is set with the template of rev.
func setAtRevision(set *appsv1.StatefulSet, rev *appsv1.ControllerRevision) (*appsv1.StatefulSet, error) {
	tmpl, err := templateOf(rev)
	if err != nil {
		return nil, err
	}
	out := set.DeepCopy()
	out.Spec.Template = *tmpl
	return out, nil
}

// revisionHash hashes the revision data and the collision count, rendered
// in the alphabet of generated names.
func revisionHash(data []byte, collisions int32) string {
	h := fnv.New32a()
	h.Write(data)
	if collisions != 0 {
		h.Write([]byte(strconv.FormatInt(int64(collisions), 10)))
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

func newRevision(set *appsv1.StatefulSet, data []byte, number int64, collisions int32) *appsv1.ControllerRevision {
	hash := revisionHash(data, collisions)
	lbls := maps.Clone(set.Spec.Template.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	lbls[revisionHashLabel] = hash
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name: set.Name + "-" + hash, Namespace: set.Namespace, Labels: lbls, Annotations: maps.Clone(set.Annotations),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: number,
	}
}

// ownedRevisions lists the set's revisions, oldest first, adopting the
// orphans its selector matches, as upstream does (refmanager.Claim; only
// matching revisions are listed, so none is released).
func (c *Controller) ownedRevisions(ctx context.Context, set *appsv1.StatefulSet, sel labels.Selector) ([]*appsv1.ControllerRevision, error) {
	all, err := c.revisions.ControllerRevisions(set.Namespace).List(sel)
	if err != nil {
		return nil, fmt.Errorf("list revisions: %w", err)
	}
	owned, err := refmanager.Claim(ctx, c.asOwner(set, sel), refmanager.ControllerRevisions(c.client, fieldManager), all)
	if err != nil {
		return nil, err
	}
	sortRevisions(owned)
	return owned, nil
}

func sortRevisions(revs []*appsv1.ControllerRevision) {
	slices.SortStableFunc(revs, func(a, b *appsv1.ControllerRevision) int {
		if a.Revision != b.Revision {
			return cmp.Compare(a.Revision, b.Revision)
		}
		return a.CreationTimestamp.Compare(b.CreationTimestamp.Time)
	})
}

func maxRevision(revs []*appsv1.ControllerRevision) int64 {
	var n int64
	for _, r := range revs {
		n = max(n, r.Revision)
	}
	return n
}

// syncRevisions finds or records the revision of the set's template (the
// update revision) and resolves the current one.
func (c *Controller) syncRevisions(ctx context.Context, set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision) (current, update *appsv1.ControllerRevision, collisions int32, err error) {
	if set.Status.CollisionCount != nil {
		collisions = *set.Status.CollisionCount
	}
	data, err := history.TemplatePatch(&set.Spec.Template)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("revision data: %w", err)
	}
	top := maxRevision(revs)
	var equal []*appsv1.ControllerRevision
	for _, r := range revs {
		if history.Same(r.Data.Raw, data) {
			equal = append(equal, r)
		}
	}
	switch {
	case len(equal) > 0 && equal[len(equal)-1].Revision == top:
		update = equal[len(equal)-1] // the newest revision is the template
	case len(equal) > 0:
		// A return to an older template (rollout undo): renumber it.
		fresh := equal[len(equal)-1].DeepCopy()
		fresh.Revision = top + 1
		if update, err = c.client.AppsV1().ControllerRevisions(set.Namespace).Update(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return nil, nil, 0, fmt.Errorf("renumber revision %s: %w", fresh.Name, err)
		}
	default:
		if update, collisions, err = c.createRevision(ctx, set, data, top+1, collisions); err != nil {
			return nil, nil, 0, err
		}
	}
	for _, r := range revs {
		if r.Name == set.Status.CurrentRevision {
			current = r
		}
	}
	if current == nil || current.Name == update.Name {
		current = update
	}
	return current, update, collisions, nil
}

// createRevision creates the revision, bumping the collision count while
// its name is taken by different data.
func (c *Controller) createRevision(ctx context.Context, set *appsv1.StatefulSet, data []byte, number int64, collisions int32) (*appsv1.ControllerRevision, int32, error) {
	for range 100 {
		rev := newRevision(set, data, number, collisions)
		out, err := c.client.AppsV1().ControllerRevisions(set.Namespace).Create(ctx, rev, metav1.CreateOptions{FieldManager: fieldManager})
		if err == nil {
			return out, collisions, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, collisions, fmt.Errorf("create revision %s: %w", rev.Name, err)
		}
		existing, gerr := c.client.AppsV1().ControllerRevisions(set.Namespace).Get(ctx, rev.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, collisions, fmt.Errorf("get revision %s: %w", rev.Name, gerr)
		}
		if ref := metav1.GetControllerOf(existing); ref != nil && ref.UID == set.UID && history.Same(existing.Data.Raw, data) {
			return existing, collisions, nil // our own, not yet in the cache
		}
		collisions++
	}
	return nil, collisions, fmt.Errorf("no free revision name for %s after 100 collisions", set.Name)
}

// truncateHistory deletes the oldest revisions no pod uses beyond the
// history limit.
func (c *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, revs []*appsv1.ControllerRevision, current, update *appsv1.ControllerRevision) error {
	live := map[string]bool{current.Name: true, update.Name: true}
	for _, p := range pods {
		live[revisionOf(p)] = true
	}
	var history []*appsv1.ControllerRevision
	for _, r := range revs {
		if !live[r.Name] {
			history = append(history, r)
		}
	}
	limit := DefaultRevisionHistoryLimit
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	for _, r := range history[:max(0, len(history)-limit)] {
		err := c.client.AppsV1().ControllerRevisions(set.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &r.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete revision %s: %w", r.Name, err)
		}
	}
	return nil
}
