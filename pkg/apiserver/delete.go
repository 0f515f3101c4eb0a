package apiserver

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"

	"github.com/flotilla-io/flotilla/pkg/podutil"
	"github.com/flotilla-io/flotilla/pkg/registry"
	"github.com/flotilla-io/flotilla/pkg/storage"
)

// DeleteOptions is registered in every group version; "v1" decodes bodies that name none.
var deleteOptionsKind = schema.GroupVersionKind{Version: "v1", Kind: "DeleteOptions"}

// deleteOptions reads DeleteOptions from the body (JSON or protobuf, as
// kubectl sends both) and from query parameters.
func (s *Server) deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		media := requestMedia(r)
		info, ok := s.serializer(media)
		if !ok {
			return nil, unsupportedMedia(media)
		}
		if _, _, err := info.Serializer.Decode(body, &deleteOptionsKind, opts); err != nil {
			return nil, badRequest("invalid DeleteOptions: %v", err)
		}
	}
	q := r.URL.Query()
	if v := q.Get("gracePeriodSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, badRequest("gracePeriodSeconds: %v", err)
		}
		opts.GracePeriodSeconds = &n
	}
	if v := q.Get("propagationPolicy"); v != "" {
		p := metav1.DeletionPropagation(v)
		opts.PropagationPolicy = &p
	}
	if v := q.Get("orphanDependents"); v != "" {
		b := v == "true"
		opts.OrphanDependents = &b
	}
	opts.DryRun = append(opts.DryRun, q["dryRun"]...)
	for _, d := range opts.DryRun {
		if d != metav1.DryRunAll {
			return nil, badRequest("Invalid dry run value: supported values are [All], got %q", d)
		}
	}
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return nil, badRequest("propagationPolicy: Unsupported value: %q: supported values: \"Foreground\", \"Background\", \"Orphan\"", *p)
		}
		if opts.OrphanDependents != nil {
			return nil, badRequest("orphanDependents and propagationPolicy cannot both be set")
		}
	}
	return opts, nil
}

func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request, req *request, out output) error {
	opts, err := s.deleteOptions(r)
	if err != nil {
		return err
	}
	obj, gone, err := s.deleteObject(r, req.res, req.namespace, req.name, opts, false)
	if err != nil {
		return err
	}
	if req.res.Kind == "Job" && opts.PropagationPolicy == nil && opts.OrphanDependents == nil {
		addWarnings(w, []string{"child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning"})
	}
	if !gone {
		// Deletion is pending (grace period or finalizers).
		s.writeResult(w, r, req, http.StatusAccepted, obj, out)
		return nil
	}
	acc := accessor(obj)
	st := &metav1.Status{
		Status:  metav1.StatusSuccess,
		Details: &metav1.StatusDetails{Name: acc.GetName(), Group: req.res.Group, Kind: req.res.Plural, UID: acc.GetUID()},
	}
	st.Kind, st.APIVersion = "Status", "v1"
	s.writeJSON(w, http.StatusOK, st)
	return nil
}

// deleteObject deletes name, or starts its graceful deletion. gone says
// whether the object left storage. admitted says the admission chain saw
// the deletion already (as an eviction); otherwise it is asked here.
func (s *Server) deleteObject(r *http.Request, res *registry.Resource, ns, name string, opts *metav1.DeleteOptions, admitted bool) (runtime.Object, bool, error) {
	isDry := len(opts.DryRun) > 0
	var result runtime.Object
	written, deleted, err := res.Store.Update(r.Context(), res.Store.Key(ns, name), func(stored runtime.Object) (runtime.Object, error) {
		cur, err := res.Decode(stored)
		if err != nil {
			return nil, err
		}
		if err := checkPreconditions(res, cur, opts.Preconditions); err != nil {
			return nil, err
		}
		if !admitted {
			call := callFor(&request{res: res, namespace: ns, name: name}, admission.Delete, nil, cur, opts, isDry)
			if err := s.admit(r, call); err != nil {
				return nil, err
			}
			if err := s.validateAdmission(r, call); err != nil {
				return nil, err
			}
		}
		next, remove := s.planDeletion(res, cur.DeepCopyObject(), opts)
		result = next
		if isDry {
			return nil, errDryRun
		}
		if remove {
			return nil, nil
		}
		return res.Encode(next)
	})
	switch {
	case errors.Is(err, errDryRun):
		return result, false, nil
	case err != nil:
		return nil, false, err
	case deleted:
		if res.Release != nil {
			res.Release(r.Context(), result)
		}
		return result, true, nil
	}
	obj, err := res.Decode(written)
	return obj, false, err
}

func checkPreconditions(res *registry.Resource, cur runtime.Object, p *metav1.Preconditions) error {
	if p == nil {
		return nil
	}
	acc := accessor(cur)
	if p.UID != nil && *p.UID != acc.GetUID() {
		return apierrors.NewConflict(res.GVR().GroupResource(), acc.GetName(), fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, acc.GetUID()))
	}
	if p.ResourceVersion != nil && *p.ResourceVersion != acc.GetResourceVersion() {
		return apierrors.NewConflict(res.GVR().GroupResource(), acc.GetName(), fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, acc.GetResourceVersion()))
	}
	return nil
}

// planDeletion decides between removing obj now and marking it for
// deletion, which happens while a grace period runs (pods on a node) or
// finalizers remain.
func (s *Server) planDeletion(res *registry.Resource, obj runtime.Object, opts *metav1.DeleteOptions) (runtime.Object, bool) {
	acc := accessor(obj)
	grace := gracePeriod(obj, opts)
	now := time.Now()
	if ts := acc.GetDeletionTimestamp(); ts != nil {
		// Already terminating: a delete may only shorten the grace period.
		if cur := acc.GetDeletionGracePeriodSeconds(); cur != nil && grace < *cur {
			acc.SetDeletionGracePeriodSeconds(&grace)
			t := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
			acc.SetDeletionTimestamp(&t)
		}
		return obj, finalized(obj) && !pendingFinalizers(res, obj)
	}
	// Foreground and Orphan deletions wait for the garbage collector,
	// which finds what to do in these finalizers, as upstream's does.
	if f := propagationFinalizer(res, opts); f != "" && !slices.Contains(acc.GetFinalizers(), f) {
		acc.SetFinalizers(append(acc.GetFinalizers(), f))
	}
	if grace == 0 && len(acc.GetFinalizers()) == 0 && !pendingFinalizers(res, obj) {
		return obj, true
	}
	t := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
	acc.SetDeletionTimestamp(&t)
	acc.SetDeletionGracePeriodSeconds(&grace)
	if res.Generation {
		acc.SetGeneration(acc.GetGeneration() + 1)
	}
	if res.PrepareForDelete != nil {
		res.PrepareForDelete(obj)
	}
	return obj, false
}

// propagationFinalizer is the finalizer that records a delete's
// propagation policy; Background (the default) needs none.
func propagationFinalizer(res *registry.Resource, opts *metav1.DeleteOptions) string {
	switch {
	case opts.PropagationPolicy == nil && opts.OrphanDependents == nil && res.OrphanByDefault:
		return metav1.FinalizerOrphanDependents
	case opts.PropagationPolicy != nil && *opts.PropagationPolicy == metav1.DeletePropagationForeground:
		return metav1.FinalizerDeleteDependents
	case opts.PropagationPolicy != nil && *opts.PropagationPolicy == metav1.DeletePropagationOrphan,
		opts.OrphanDependents != nil && *opts.OrphanDependents:
		return metav1.FinalizerOrphanDependents
	}
	return ""
}

func pendingFinalizers(res *registry.Resource, obj runtime.Object) bool {
	return res.PendingFinalizers != nil && res.PendingFinalizers(obj)
}

// gracePeriod is how long a pod gets to stop. Other kinds go at once.
func gracePeriod(obj runtime.Object, opts *metav1.DeleteOptions) int64 {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return 0
	}
	// Pods that never started or already ended have nothing to stop.
	if pod.Spec.NodeName == "" || podutil.IsPodTerminal(pod) {
		return 0
	}
	if opts.GracePeriodSeconds != nil {
		g := *opts.GracePeriodSeconds
		if g < 0 {
			g = 0
		}
		return g
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return max(*pod.Spec.TerminationGracePeriodSeconds, 0)
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}

func (s *Server) serveDeleteCollection(w http.ResponseWriter, r *http.Request, req *request, out output) error {
	opts, err := s.deleteOptions(r)
	if err != nil {
		return err
	}
	lopts, err := s.parseListOptions(r, req.res)
	if err != nil {
		return err
	}
	lopts.limit, lopts.cont = 0, ""
	lr, err := s.list(r, req, lopts)
	if err != nil {
		return err
	}
	for _, it := range lr.Items {
		acc := accessor(it)
		if _, _, err := s.deleteObject(r, req.res, acc.GetNamespace(), acc.GetName(), opts, false); err != nil && !apierrors.IsNotFound(err) && !storage.IsNotFound(err) {
			return err
		}
	}
	st := &metav1.Status{Status: metav1.StatusSuccess}
	st.Kind, st.APIVersion = "Status", "v1"
	s.writeJSON(w, http.StatusOK, st)
	return nil
}
