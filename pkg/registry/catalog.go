package registry

import (
	"context"
	storagev1 "k8s.io/api/storage/v1"

	clientv3 "go.etcd.io/etcd/client/v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flotilla-io/flotilla/pkg/storage"
)

// KeyPrefix roots every key the API server writes in etcd.
const KeyPrefix = "/flotilla/"

var (
	scaleKind    = schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}
	bindingKind  = schema.GroupVersionKind{Version: "v1", Kind: "Binding"}
	evictionKind = schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}
	tokenKind    = schema.GroupVersionKind{Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest"}
)

func status(kind schema.GroupVersionKind) Subresource {
	return Subresource{Name: "status", Kind: kind, Verbs: VerbsSubGet}
}

func scale() Subresource { return Subresource{Name: "scale", Kind: scaleKind, Verbs: VerbsSubGet} }

// Catalog builds every served resource on top of one etcd client. codec
// is the storage encoding.
func Catalog(client *clientv3.Client, codec runtime.Codec) []*Resource {
	var out []*Resource
	add := func(r *Resource, storeName string) *Resource {
		if r.ListKind == "" {
			r.ListKind = r.Kind + "List"
		}
		if r.Store == nil {
			prefix := KeyPrefix + storeName
			r.Store = storage.New(client, codec, prefix, r.GVK(), r.New)
		}
		out = append(out, r)
		return r
	}
	core := func(plural, singular, kind string, namespaced bool, n func() runtime.Object, l func() runtime.Object) *Resource {
		return &Resource{Version: "v1", Plural: plural, Singular: singular, Kind: kind, Namespaced: namespaced, New: n, NewList: l}
	}
	gv := func(group, version string) func(plural, singular, kind string, namespaced bool, n func() runtime.Object, l func() runtime.Object) *Resource {
		return func(plural, singular, kind string, namespaced bool, n func() runtime.Object, l func() runtime.Object) *Resource {
			r := core(plural, singular, kind, namespaced, n, l)
			r.Group, r.Version = group, version
			return r
		}
	}
	kind := func(group, version, kind string) schema.GroupVersionKind {
		return schema.GroupVersionKind{Group: group, Version: version, Kind: kind}
	}

	// core/v1
	ns := core("namespaces", "namespace", "Namespace", false, func() runtime.Object { return &corev1.Namespace{} }, func() runtime.Object { return &corev1.NamespaceList{} })
	ns.ShortNames = []string{"ns"}
	ns.Subresources = []Subresource{status(kind("", "v1", "Namespace")), {Name: "finalize", Kind: kind("", "v1", "Namespace"), Verbs: []string{"update"}}}
	ns.FieldSet = namespaceFields
	ns.PrepareForCreate = prepareNamespace
	ns.PrepareForDelete = prepareNamespaceDelete
	ns.PendingFinalizers = namespaceFinalizing
	add(ns, "namespaces")

	pod := core("pods", "pod", "Pod", true, func() runtime.Object { return &corev1.Pod{} }, func() runtime.Object { return &corev1.PodList{} })
	pod.ShortNames, pod.Categories = []string{"po"}, categoriesAll
	pod.Subresources = []Subresource{
		status(kind("", "v1", "Pod")),
		{Name: "binding", Kind: bindingKind, Verbs: VerbsCreate},
		{Name: "eviction", Kind: evictionKind, Verbs: VerbsCreate},
		{Name: "log", Kind: kind("", "v1", "Pod"), Verbs: VerbsGet},
		{Name: "exec", Kind: kind("", "v1", "PodExecOptions"), Verbs: VerbsConnect},
		{Name: "attach", Kind: kind("", "v1", "PodAttachOptions"), Verbs: VerbsConnect},
		{Name: "portforward", Kind: kind("", "v1", "PodPortForwardOptions"), Verbs: VerbsConnect},
		{Name: "proxy", Kind: kind("", "v1", "PodProxyOptions"), Verbs: []string{"create", "delete", "get", "patch", "update"}},
		{Name: "ephemeralcontainers", Kind: kind("", "v1", "Pod"), Verbs: VerbsSubGet, Prepare: prepareEphemeralContainers},
	}
	pod.FieldSet = podFields
	pod.PrepareForCreate = preparePod
	add(pod, "pods")

	cm := core("configmaps", "configmap", "ConfigMap", true, func() runtime.Object { return &corev1.ConfigMap{} }, func() runtime.Object { return &corev1.ConfigMapList{} })
	cm.ShortNames = []string{"cm"}
	add(cm, "configmaps")

	lr := core("limitranges", "limitrange", "LimitRange", true, func() runtime.Object { return &corev1.LimitRange{} }, func() runtime.Object { return &corev1.LimitRangeList{} })
	lr.ShortNames = []string{"limits"}
	add(lr, "limitranges")

	quota := core("resourcequotas", "resourcequota", "ResourceQuota", true, func() runtime.Object { return &corev1.ResourceQuota{} }, func() runtime.Object { return &corev1.ResourceQuotaList{} })
	quota.ShortNames = []string{"quota"}
	quota.Subresources = []Subresource{status(kind("", "v1", "ResourceQuota"))}
	add(quota, "resourcequotas")

	secret := core("secrets", "secret", "Secret", true, func() runtime.Object { return &corev1.Secret{} }, func() runtime.Object { return &corev1.SecretList{} })
	secret.FieldSet = secretFields
	add(secret, "secrets")

	node := core("nodes", "node", "Node", false, func() runtime.Object { return &corev1.Node{} }, func() runtime.Object { return &corev1.NodeList{} })
	node.ShortNames = []string{"no"}
	node.Subresources = []Subresource{status(kind("", "v1", "Node")), {Name: "proxy", Kind: kind("", "v1", "NodeProxyOptions"), Verbs: []string{"create", "delete", "get", "patch", "update"}}}
	node.FieldSet = nodeFields
	node.KeepStatusOnCreate = true
	add(node, "minions")

	coreEvents := core("events", "event", "Event", true, func() runtime.Object { return &corev1.Event{} }, func() runtime.Object { return &corev1.EventList{} })
	coreEvents.ShortNames = []string{"ev"}
	coreEvents.FieldSet = eventFields
	add(coreEvents, "events")

	svc := core("services", "service", "Service", true, func() runtime.Object { return &corev1.Service{} }, func() runtime.Object { return &corev1.ServiceList{} })
	svc.ShortNames, svc.Categories = []string{"svc"}, categoriesAll
	svc.FieldSet = serviceFields
	svc.Subresources = []Subresource{status(kind("", "v1", "Service")), {Name: "proxy", Kind: kind("", "v1", "ServiceProxyOptions"), Verbs: []string{"create", "delete", "get", "patch", "update"}}}
	add(svc, "services/specs")
	alloc := &serviceAllocator{client: client, svcs: func(ctx context.Context, ns, name string) (*corev1.Service, error) {
		obj, err := svc.Store.Get(ctx, svc.Store.Key(ns, name))
		if storage.IsNotFound(err) {
			return nil, apierrors.NewNotFound(servicesGR, name)
		}
		if err != nil {
			return nil, err
		}
		return obj.(*corev1.Service), nil
	}}
	svc.Allocate, svc.Release = alloc.allocate, alloc.releaseAll
	svc.PrepareForUpdate = prepareServiceUpdate

	ep := core("endpoints", "endpoints", "Endpoints", true, func() runtime.Object { return &corev1.Endpoints{} }, func() runtime.Object { return &corev1.EndpointsList{} })
	ep.ShortNames = []string{"ep"}
	add(ep, "services/endpoints")

	sa := core("serviceaccounts", "serviceaccount", "ServiceAccount", true, func() runtime.Object { return &corev1.ServiceAccount{} }, func() runtime.Object { return &corev1.ServiceAccountList{} })
	sa.ShortNames = []string{"sa"}
	sa.Subresources = []Subresource{{Name: "token", Kind: tokenKind, Verbs: VerbsCreate}}
	add(sa, "serviceaccounts")

	rc := core("replicationcontrollers", "replicationcontroller", "ReplicationController", true, func() runtime.Object { return &corev1.ReplicationController{} }, func() runtime.Object { return &corev1.ReplicationControllerList{} })
	rc.ShortNames, rc.Categories, rc.Generation = []string{"rc"}, categoriesAll, true
	rc.OrphanByDefault = true
	rc.Subresources = []Subresource{status(kind("", "v1", "ReplicationController")), scale()}
	rc.FieldSet = replicasFields
	add(rc, "controllers")

	pt := core("podtemplates", "podtemplate", "PodTemplate", true, func() runtime.Object { return &corev1.PodTemplate{} }, func() runtime.Object { return &corev1.PodTemplateList{} })
	add(pt, "podtemplates")

	pvc := core("persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", true, func() runtime.Object { return &corev1.PersistentVolumeClaim{} }, func() runtime.Object { return &corev1.PersistentVolumeClaimList{} })
	pvc.ShortNames = []string{"pvc"}
	pvc.Subresources = []Subresource{status(kind("", "v1", "PersistentVolumeClaim"))}
	add(pvc, "persistentvolumeclaims")

	pv := core("persistentvolumes", "persistentvolume", "PersistentVolume", false, func() runtime.Object { return &corev1.PersistentVolume{} }, func() runtime.Object { return &corev1.PersistentVolumeList{} })
	pv.ShortNames = []string{"pv"}
	pv.Subresources = []Subresource{status(kind("", "v1", "PersistentVolume"))}
	add(pv, "persistentvolumes")

	// apps/v1
	apps := gv("apps", "v1")
	deploy := apps("deployments", "deployment", "Deployment", true, func() runtime.Object { return &appsv1.Deployment{} }, func() runtime.Object { return &appsv1.DeploymentList{} })
	deploy.ShortNames, deploy.Categories, deploy.Generation = []string{"deploy"}, categoriesAll, true
	deployStatus := status(kind("apps", "v1", "Deployment"))
	deployStatus.Prepare = prepareDeploymentStatus
	deploy.Subresources = []Subresource{deployStatus, scale()}
	add(deploy, "deployments")

	rs := apps("replicasets", "replicaset", "ReplicaSet", true, func() runtime.Object { return &appsv1.ReplicaSet{} }, func() runtime.Object { return &appsv1.ReplicaSetList{} })
	rs.ShortNames, rs.Categories, rs.Generation = []string{"rs"}, categoriesAll, true
	rs.Subresources = []Subresource{status(kind("apps", "v1", "ReplicaSet")), scale()}
	rs.FieldSet = replicasFields
	add(rs, "replicasets")

	ds := apps("daemonsets", "daemonset", "DaemonSet", true, func() runtime.Object { return &appsv1.DaemonSet{} }, func() runtime.Object { return &appsv1.DaemonSetList{} })
	ds.ShortNames, ds.Categories, ds.Generation = []string{"ds"}, categoriesAll, true
	ds.Subresources = []Subresource{status(kind("apps", "v1", "DaemonSet"))}
	add(ds, "daemonsets")

	sts := apps("statefulsets", "statefulset", "StatefulSet", true, func() runtime.Object { return &appsv1.StatefulSet{} }, func() runtime.Object { return &appsv1.StatefulSetList{} })
	sts.ShortNames, sts.Categories, sts.Generation = []string{"sts"}, categoriesAll, true
	sts.Subresources = []Subresource{status(kind("apps", "v1", "StatefulSet")), scale()}
	add(sts, "statefulsets")

	cr := apps("controllerrevisions", "controllerrevision", "ControllerRevision", true, func() runtime.Object { return &appsv1.ControllerRevision{} }, func() runtime.Object { return &appsv1.ControllerRevisionList{} })
	add(cr, "controllerrevisions")

	// batch/v1
	batch := gv("batch", "v1")
	job := batch("jobs", "job", "Job", true, func() runtime.Object { return &batchv1.Job{} }, func() runtime.Object { return &batchv1.JobList{} })
	job.Categories, job.Generation, job.OrphanByDefault = categoriesAll, true, true
	job.Subresources = []Subresource{status(kind("batch", "v1", "Job"))}
	job.FieldSet = jobFields
	job.PrepareForCreate = prepareJob
	add(job, "jobs")

	cj := batch("cronjobs", "cronjob", "CronJob", true, func() runtime.Object { return &batchv1.CronJob{} }, func() runtime.Object { return &batchv1.CronJobList{} })
	cj.ShortNames, cj.Categories, cj.Generation = []string{"cj"}, categoriesAll, true
	cj.Subresources = []Subresource{status(kind("batch", "v1", "CronJob"))}
	add(cj, "cronjobs")

	// autoscaling: v2 is stored and preferred; v1 converts.
	hpa2 := gv("autoscaling", "v2")("horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler", true, func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} }, func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} })
	hpa2.ShortNames, hpa2.Categories, hpa2.Generation = []string{"hpa"}, categoriesAll, true
	hpa2.Subresources = []Subresource{status(kind("autoscaling", "v2", "HorizontalPodAutoscaler"))}
	add(hpa2, "horizontalpodautoscalers")
	hpa1 := gv("autoscaling", "v1")("horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler", true, func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscaler{} }, func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscalerList{} })
	hpa1.ShortNames, hpa1.Categories, hpa1.Generation = []string{"hpa"}, categoriesAll, true
	hpa1.Subresources = []Subresource{status(kind("autoscaling", "v1", "HorizontalPodAutoscaler"))}
	hpa1.Store, hpa1.ToStorage, hpa1.FromStorage = hpa2.Store, hpaV1ToV2, hpaV2ToV1
	add(hpa1, "")

	lease := gv("coordination.k8s.io", "v1")("leases", "lease", "Lease", true, func() runtime.Object { return &coordinationv1.Lease{} }, func() runtime.Object { return &coordinationv1.LeaseList{} })
	add(lease, "leases")

	ev2 := gv("events.k8s.io", "v1")("events", "event", "Event", true, func() runtime.Object { return &eventsv1.Event{} }, func() runtime.Object { return &eventsv1.EventList{} })
	ev2.ShortNames = []string{"ev"}
	ev2.Store, ev2.ToStorage, ev2.FromStorage, ev2.FieldSet = coreEvents.Store, eventToCore, eventFromCore, eventFields
	ev2.FieldLabels = eventsV1FieldLabels
	add(ev2, "")

	eps := gv("discovery.k8s.io", "v1")("endpointslices", "endpointslice", "EndpointSlice", true, func() runtime.Object { return &discoveryv1.EndpointSlice{} }, func() runtime.Object { return &discoveryv1.EndpointSliceList{} })
	eps.PrepareForCreate, eps.PrepareForUpdate = endpointSliceCreated, endpointSliceUpdated
	add(eps, "endpointslices")

	pdb := gv("policy", "v1")("poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", true, func() runtime.Object { return &policyv1.PodDisruptionBudget{} }, func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} })
	pdb.ShortNames, pdb.Generation = []string{"pdb"}, true
	pdb.Subresources = []Subresource{status(kind("policy", "v1", "PodDisruptionBudget"))}
	add(pdb, "poddisruptionbudgets")

	pc := gv("scheduling.k8s.io", "v1")("priorityclasses", "priorityclass", "PriorityClass", false, func() runtime.Object { return &schedulingv1.PriorityClass{} }, func() runtime.Object { return &schedulingv1.PriorityClassList{} })
	pc.ShortNames = []string{"pc"}
	add(pc, "priorityclasses")

	sc := gv("storage.k8s.io", "v1")("storageclasses", "storageclass", "StorageClass", false, func() runtime.Object { return &storagev1.StorageClass{} }, func() runtime.Object { return &storagev1.StorageClassList{} })
	sc.ShortNames = []string{"sc"}
	add(sc, "storageclasses")

	apiResources(add)
	settingsResources(add)
	rbacResources(add)

	return out
}
