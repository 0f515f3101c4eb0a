package apiserver

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apiserver/pkg/admission"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/pkg/controller/disruption"
	"github.com/flotilla-io/flotilla/pkg/podutil"
	"github.com/flotilla-io/flotilla/pkg/storage"
)

// serveSubresource handles every subresource except status, which the
// generic verbs cover.
func (s *Server) serveSubresource(w http.ResponseWriter, r *http.Request, req *request, out output) error {
	switch req.subresource {
	case "scale":
		switch req.verb {
		case "get":
			obj, err := s.get(r, req)
			if err != nil {
				return err
			}
			sc, err := scaleOf(obj)
			if err != nil {
				return err
			}
			s.writeObject(w, r, http.StatusOK, sc, out)
			return nil
		case "update":
			isDry, err := dryRun(r)
			if err != nil {
				return err
			}
			body, err := readBody(r)
			if err != nil {
				return err
			}
			return s.patchScale(w, r, req, out, "", body, isDry)
		case "patch":
			return s.servePatch(w, r, req, out)
		}
	case "binding":
		if req.verb == "create" {
			return s.serveBinding(w, r, req)
		}
	case "eviction":
		if req.verb == "create" {
			return s.serveEviction(w, r, req)
		}
	case "token":
		if req.verb == "create" {
			return s.serveToken(w, r, req, out)
		}
	case "finalize":
		if req.verb == "update" {
			return s.serveFinalize(w, r, req, out)
		}
	case "log", "exec", "attach", "portforward", "proxy":
		return s.serveConnect(w, r, req)
	}
	return apierrors.NewMethodNotSupported(schema.GroupResource{Group: req.res.Group, Resource: req.res.Plural + "/" + req.subresource}, req.verb)
}

// scaleOf renders the scale subresource of a scalable object.
func scaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	sc := &autoscalingv1.Scale{}
	sc.Kind, sc.APIVersion = "Scale", "autoscaling/v1"
	var sel *metav1.LabelSelector
	switch o := obj.(type) {
	case *appsv1.Deployment:
		sc.ObjectMeta, sc.Spec.Replicas, sc.Status.Replicas, sel = o.ObjectMeta, deref(o.Spec.Replicas), o.Status.Replicas, o.Spec.Selector
	case *appsv1.ReplicaSet:
		sc.ObjectMeta, sc.Spec.Replicas, sc.Status.Replicas, sel = o.ObjectMeta, deref(o.Spec.Replicas), o.Status.Replicas, o.Spec.Selector
	case *appsv1.StatefulSet:
		sc.ObjectMeta, sc.Spec.Replicas, sc.Status.Replicas, sel = o.ObjectMeta, deref(o.Spec.Replicas), o.Status.Replicas, o.Spec.Selector
	case *corev1.ReplicationController:
		sc.ObjectMeta, sc.Spec.Replicas, sc.Status.Replicas = o.ObjectMeta, deref(o.Spec.Replicas), o.Status.Replicas
		sc.Status.Selector = metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: o.Spec.Selector})
	default:
		return nil, fmt.Errorf("%T has no scale subresource", obj)
	}
	if sel != nil {
		sc.Status.Selector = metav1.FormatLabelSelector(sel)
	}
	sc.ObjectMeta = metav1.ObjectMeta{Name: sc.Name, Namespace: sc.Namespace, UID: sc.UID, ResourceVersion: sc.ResourceVersion, CreationTimestamp: sc.CreationTimestamp}
	return sc, nil
}

func setReplicas(obj runtime.Object, n int32) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &n
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = &n
	case *appsv1.StatefulSet:
		o.Spec.Replicas = &n
	case *corev1.ReplicationController:
		o.Spec.Replicas = &n
	}
}

func deref(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// patchScale applies a patch (pt != "") or a full Scale (pt == "") to the
// scale of an object and writes the new replica count to its spec.
//
// As upstream, managedFields are tracked on the Scale: the parent's entries
// owning spec.replicas are shown to the field manager as owners of the
// Scale's spec.replicas, the write is recorded there with subresource
// "scale", and the result is carried back to the parent's entries.
func (s *Server) patchScale(w http.ResponseWriter, r *http.Request, req *request, out output, pt types.PatchType, body []byte, isDry bool) error {
	scaleGVK := autoscalingv1.SchemeGroupVersion.WithKind("Scale")
	fm, err := s.fields.get(scaleGVK, "scale")
	if err != nil {
		return err
	}
	manager, force := managerName(r), false
	var applied *unstructured.Unstructured
	if pt == types.ApplyYAMLPatchType {
		if fm == nil {
			return unsupportedPatch(string(pt))
		}
		if manager = r.URL.Query().Get("fieldManager"); manager == "" {
			return badRequest("PATCH, fieldManager is required for apply requests")
		}
		force = r.URL.Query().Get("force") == "true"
		applied = &unstructured.Unstructured{}
		if err := yaml.Unmarshal(body, &applied.Object); err != nil {
			return badRequest("error decoding YAML: %v", err)
		}
		if applied.Object == nil {
			return badRequest("apply patch is empty")
		}
	}
	parent := &request{verb: "update", gv: req.gv, res: req.res, namespace: req.namespace, name: req.name}
	updated, err := s.update(r, parent, isDry, fm != nil, func(cur runtime.Object) (runtime.Object, error) {
		sc, err := scaleOf(cur)
		if err != nil {
			return nil, err
		}
		var fields *managedfields.ScaleHandler
		if fm != nil {
			fields = scaleFields(accessor(cur).GetManagedFields(), req.res.GroupVersion())
			if sc.ManagedFields, err = fields.ToSubresource(); err != nil {
				return nil, err
			}
		}
		var next runtime.Object
		switch pt {
		case "":
			next, _, err = s.decodeInto(requestMedia(r), body, scaleGVK, &autoscalingv1.Scale{}, "Ignore")
		case types.ApplyYAMLPatchType:
			next, err = fm.Apply(sc, applied, manager, force)
			if _, isStatus := err.(apierrors.APIStatus); err != nil && !isStatus {
				err = badRequest("%v", err)
			}
		default:
			next, _, err = s.applyPatch(pt, body, sc, func() runtime.Object { return &autoscalingv1.Scale{} }, "Ignore")
		}
		if err != nil {
			return nil, err
		}
		ns, ok := next.(*autoscalingv1.Scale)
		if !ok {
			return nil, badRequest("expected a Scale, got %T", next)
		}
		if ns.ResourceVersion != "" && ns.ResourceVersion != sc.ResourceVersion {
			return nil, errConflict(req.res.GVR().GroupResource(), req.name)
		}
		if ns.Spec.Replicas < 0 {
			return nil, invalidMessage(fmt.Sprintf("Scale.autoscaling %q is invalid: spec.replicas: Invalid value: %d: must be greater than or equal to 0", req.name, ns.Spec.Replicas))
		}
		setReplicas(cur, ns.Spec.Replicas)
		if fm != nil {
			if pt != types.ApplyYAMLPatchType {
				ns.GetObjectKind().SetGroupVersionKind(scaleGVK)
				sc.GetObjectKind().SetGroupVersionKind(scaleGVK)
				ns = fm.UpdateNoErrors(sc, ns, manager).(*autoscalingv1.Scale)
			}
			entries, err := fields.ToParent(ns.ManagedFields)
			if err != nil {
				return nil, err
			}
			accessor(cur).SetManagedFields(entries)
		}
		return cur, nil
	})
	if err != nil {
		return err
	}
	sc, err := scaleOf(updated)
	if err != nil {
		return err
	}
	s.writeObject(w, r, http.StatusOK, sc, out)
	return nil
}

// scaleFields converts managedFields between a scalable object and its
// Scale. Every kind with a scale subresource keeps its replicas at
// spec.replicas, in each of its versions.
func scaleFields(entries []metav1.ManagedFieldsEntry, gv schema.GroupVersion) *managedfields.ScaleHandler {
	replicas := fieldpath.MakePathOrDie("spec", "replicas")
	paths := managedfields.ResourcePathMappings{gv.String(): replicas}
	for _, e := range entries {
		paths[e.APIVersion] = replicas
	}
	return managedfields.NewScaleHandler(entries, gv, paths)
}

// serveBinding assigns a pod to a node, once.
func (s *Server) serveBinding(w http.ResponseWriter, r *http.Request, req *request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	obj, _, err := s.decodeInto(requestMedia(r), body, corev1.SchemeGroupVersion.WithKind("Binding"), &corev1.Binding{}, "Strict")
	if err != nil {
		return err
	}
	b := obj.(*corev1.Binding)
	if b.Target.Name == "" {
		return invalidMessage("Binding target must specify a node name")
	}
	isDry, err := dryRun(r)
	if err != nil {
		return err
	}
	if err := s.admitBoth(r, callFor(req, admission.Create, b, nil, createOptions(isDry), isDry)); err != nil {
		return err
	}
	if isDry {
		s.writeSuccess(w, http.StatusCreated)
		return nil
	}
	// nodeName is spec and otherwise immutable: binding writes it directly.
	_, _, err = req.res.Store.Update(r.Context(), req.res.Store.Key(req.namespace, req.name), func(cur runtime.Object) (runtime.Object, error) {
		pod := cur.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(req.res.GVR().GroupResource(), req.name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", req.name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(req.res.GVR().GroupResource(), req.name, fmt.Errorf("pod %s is already assigned to node %q", req.name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = b.Target.Name
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
		return pod, nil
	})
	if err != nil {
		return err
	}
	s.writeSuccess(w, http.StatusCreated)
	return nil
}

func setPodCondition(pod *corev1.Pod, c corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == c.Type {
			if pod.Status.Conditions[i].Status == c.Status {
				c.LastTransitionTime = pod.Status.Conditions[i].LastTransitionTime
			}
			pod.Status.Conditions[i] = c
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}

// serveEviction deletes a pod on behalf of an eviction when the
// PodDisruptionBudget selecting it allows one more disruption, recording
// the disruption in the budget's status first (as upstream's eviction
// subresource does); a refusal is 429 and changes nothing.
func (s *Server) serveEviction(w http.ResponseWriter, r *http.Request, req *request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	obj, _, err := s.decodeInto(requestMedia(r), body, policyv1.SchemeGroupVersion.WithKind("Eviction"), &policyv1.Eviction{}, "Ignore")
	if err != nil {
		return err
	}
	ev := obj.(*policyv1.Eviction)
	if ev.Name != "" && ev.Name != req.name {
		return badRequest("name in URL does not match name in Eviction object")
	}
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	opts.DryRun = append(opts.DryRun, r.URL.Query()["dryRun"]...)
	current, err := s.get(r, req)
	if err != nil {
		return err
	}
	dryRun := len(opts.DryRun) > 0
	if err := s.admitBoth(r, callFor(req, admission.Create, ev, nil, createOptions(dryRun), dryRun)); err != nil {
		return err
	}
	if err := s.chargeBudget(r, current.(*corev1.Pod), dryRun); err != nil {
		return err
	}
	if !dryRun {
		if err := s.markEvicted(r, req); err != nil {
			return err
		}
	}
	if _, _, err := s.deleteObject(r, req.res, req.namespace, req.name, opts, true); err != nil {
		return err
	}
	s.writeSuccess(w, http.StatusCreated)
	return nil
}

// markEvicted gives a pod that has not finished the DisruptionTarget
// condition upstream's eviction sets before it deletes, so the pod's
// controllers (a Job's pod failure policy) can tell an eviction from a
// failure.
func (s *Server) markEvicted(r *http.Request, req *request) error {
	_, _, err := req.res.Store.Update(r.Context(), req.res.Store.Key(req.namespace, req.name), func(cur runtime.Object) (runtime.Object, error) {
		pod := cur.(*corev1.Pod)
		if !podutil.IsPodActive(pod) {
			return cur, nil
		}
		cond := corev1.PodCondition{
			Type:               corev1.DisruptionTarget,
			Status:             corev1.ConditionTrue,
			Reason:             "EvictionByEvictionAPI",
			Message:            "Eviction API: evicting",
			LastTransitionTime: metav1.Now(),
		}
		for i, c := range pod.Status.Conditions {
			if c.Type == corev1.DisruptionTarget {
				if c.Status == corev1.ConditionTrue {
					return cur, nil
				}
				pod.Status.Conditions[i] = cond
				return pod, nil
			}
		}
		pod.Status.Conditions = append(pod.Status.Conditions, cond)
		return pod, nil
	})
	return err
}

// chargeBudget takes one disruption from the budget that covers pod, or
// refuses the eviction.
func (s *Server) chargeBudget(r *http.Request, pod *corev1.Pod, dryRun bool) error {
	pdbs := s.byGVK[policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget")]
	if pdbs == nil {
		return nil
	}
	list, err := pdbs.Store.List(r.Context(), pdbs.Store.Prefix(pod.Namespace), storage.ListOptions{})
	if err != nil {
		return err
	}
	budgets := make([]policyv1.PodDisruptionBudget, 0, len(list.Items))
	for _, item := range list.Items {
		budgets = append(budgets, *item.(*policyv1.PodDisruptionBudget))
	}
	pdb, err := disruption.CheckEviction(pod, budgets)
	if err != nil || pdb == nil || dryRun {
		return err
	}
	_, _, err = pdbs.Store.Update(r.Context(), pdbs.Store.Key(pdb.Namespace, pdb.Name), func(cur runtime.Object) (runtime.Object, error) {
		// Decided again on the stored budget: a concurrent eviction may
		// have taken the last disruption.
		charged, err := disruption.CheckEviction(pod, []policyv1.PodDisruptionBudget{*cur.(*policyv1.PodDisruptionBudget)})
		if err != nil || charged == nil {
			return cur, err
		}
		disruption.RecordEviction(charged, pod.Name, time.Now())
		return charged, nil
	})
	if storage.IsNotFound(err) {
		return nil // the budget went away meanwhile
	}
	return err
}

func (s *Server) writeSuccess(w http.ResponseWriter, code int) {
	st := &metav1.Status{Status: metav1.StatusSuccess, Code: int32(code)}
	st.Kind, st.APIVersion = "Status", "v1"
	s.writeJSON(w, code, st)
}

// serveConnect hands streaming requests (logs, exec, attach,
// port-forward, proxy) to the node that runs the pod.
func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request, req *request) error {
	if req.res.Kind == "Service" && req.subresource == "proxy" {
		return s.serveServiceProxy(w, r, req)
	}
	if req.res.Kind == "Node" && req.subresource == "proxy" {
		return s.serveNodeProxy(w, r, req)
	}
	if req.res.Kind != "Pod" {
		return apierrors.NewServiceUnavailable(fmt.Sprintf("proxying to %s %q is not available", req.res.Singular, req.name))
	}
	if req.subresource == "proxy" {
		return s.servePodProxy(w, r, req)
	}
	obj, err := s.get(r, req)
	if err != nil {
		return err
	}
	if err := s.admitConnect(r, req); err != nil {
		return err
	}
	pod := obj.(*corev1.Pod)
	if pod.Spec.NodeName == "" {
		return badRequest("pod %s does not have a host assigned", req.name)
	}
	if s.cfg.Pods == nil {
		return apierrors.NewServiceUnavailable(fmt.Sprintf("no node agent connection is available for pod %q", req.name))
	}
	return s.cfg.Pods.ServePod(w, r, pod, req.subresource)
}

// serveNodeProxy forwards a request to the node's agent, as upstream's
// nodes/proxy reaches the kubelet: the agent serves /metrics (its own
// series), /metrics/resource and /stats/summary.
func (s *Server) serveNodeProxy(w http.ResponseWriter, r *http.Request, req *request) error {
	_, name, _, err := proxyName(req.name)
	if err != nil {
		return err
	}
	named := *req
	named.name = name
	if _, err := s.get(r, &named); err != nil {
		return err
	}
	if s.cfg.Pods == nil {
		return apierrors.NewServiceUnavailable(fmt.Sprintf("no node agent connection is available for node %q", name))
	}
	return s.cfg.Pods.ServeNode(w, r, name, req.proxyPath)
}

// serveServiceProxy forwards an HTTP request to one of a Service's
// endpoints, as upstream's services/proxy does.
func (s *Server) serveServiceProxy(w http.ResponseWriter, r *http.Request, req *request) error {
	if redirectProxyRoot(w, r, req) {
		return nil
	}
	scheme, name, port, err := proxyName(req.name)
	if err != nil {
		return err
	}
	path := req.proxyPath
	if strings.HasSuffix(r.URL.Path, "/") && !strings.HasSuffix(path, "/") {
		path += "/"
	}
	target, err := s.serviceProxyTarget(r, req.namespace, scheme, name, port, path)
	if err != nil {
		return err
	}
	s.proxyTo(w, r, target)
	return nil
}

// servePodProxy forwards an HTTP request to a server in a pod, as
// upstream's pods/proxy does.
func (s *Server) servePodProxy(w http.ResponseWriter, r *http.Request, req *request) error {
	if redirectProxyRoot(w, r, req) {
		return nil
	}
	scheme, name, port, err := proxyName(req.name)
	if err != nil {
		return err
	}
	named := *req
	named.name = name
	obj, err := s.get(r, &named)
	if err != nil {
		return err
	}
	path := req.proxyPath
	if strings.HasSuffix(r.URL.Path, "/") && !strings.HasSuffix(path, "/") {
		path += "/"
	}
	target, err := podProxyTarget(obj.(*corev1.Pod), scheme, port, path)
	if err != nil {
		return err
	}
	s.proxyTo(w, r, target)
	return nil
}

// serveFinalize replaces a namespace's spec.finalizers; once the last one
// is gone a terminating namespace is removed.
func (s *Server) serveFinalize(w http.ResponseWriter, r *http.Request, req *request, out output) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	obj, _, err := s.decodeObject(r, req.res, body, "Ignore")
	if err != nil {
		return err
	}
	want := obj.(*corev1.Namespace).Spec.Finalizers
	result, err := s.update(r, req, false, false, func(cur runtime.Object) (runtime.Object, error) {
		ns := cur.(*corev1.Namespace)
		ns.Spec.Finalizers = want
		return ns, nil
	})
	if err != nil {
		return err
	}
	s.writeResult(w, r, req, http.StatusOK, result, out)
	return nil
}
