package registry

import (
	"context"

	certificatesv1 "k8s.io/api/certificates/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// apiResources are node.k8s.io, networking.k8s.io, the CSI kinds and
// VolumeAttachments of storage.k8s.io, certificates.k8s.io and
// flowcontrol.apiserver.k8s.io, with the rules of upstream's strategies.
// add registers a resource under a store name.
func apiResources(add func(*Resource, string) *Resource) {
	gv := func(group, version, plural, singular, kind string, namespaced bool, n, l func() runtime.Object) *Resource {
		return &Resource{Group: group, Version: version, Plural: plural, Singular: singular, Kind: kind, Namespaced: namespaced, New: n, NewList: l}
	}
	kind := func(group, kind string) schema.GroupVersionKind {
		return schema.GroupVersionKind{Group: group, Version: "v1", Kind: kind}
	}

	// node.k8s.io/v1
	rc := gv("node.k8s.io", "v1", "runtimeclasses", "runtimeclass", "RuntimeClass", false,
		func() runtime.Object { return &nodev1.RuntimeClass{} }, func() runtime.Object { return &nodev1.RuntimeClassList{} })
	rc.CreateOnUpdate, rc.RequireResourceVersion = true, true
	add(rc, "runtimeclasses")

	// networking.k8s.io/v1: Ingress spec changes count in generation, as
	// IngressClass ones do (the default class is admission's:
	// pkg/admission/defaultingressclass).
	const networking = "networking.k8s.io"
	ic := gv(networking, "v1", "ingressclasses", "ingressclass", "IngressClass", false,
		func() runtime.Object { return &networkingv1.IngressClass{} }, func() runtime.Object { return &networkingv1.IngressClassList{} })
	ic.Generation = true
	add(ic, "ingressclasses")
	ing := gv(networking, "v1", "ingresses", "ingress", "Ingress", true,
		func() runtime.Object { return &networkingv1.Ingress{} }, func() runtime.Object { return &networkingv1.IngressList{} })
	ing.ShortNames, ing.Generation = []string{"ing"}, true
	ing.Subresources = []Subresource{status(kind(networking, "Ingress"))}
	add(ing, "ingress")
	// NetworkPolicy: no status; spec changes count in generation.
	np := gv(networking, "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", true,
		func() runtime.Object { return &networkingv1.NetworkPolicy{} }, func() runtime.Object { return &networkingv1.NetworkPolicyList{} })
	np.ShortNames, np.Generation = []string{"netpol"}, true
	add(np, "networkpolicies")

	// storage.k8s.io/v1
	const storageGroup = "storage.k8s.io"
	csiDriver := gv(storageGroup, "v1", "csidrivers", "csidriver", "CSIDriver", false,
		func() runtime.Object { return &storagev1.CSIDriver{} }, func() runtime.Object { return &storagev1.CSIDriverList{} })
	// Upstream counts spec changes but does not start the count at 1.
	csiDriver.PrepareForUpdate = func(obj, old runtime.Object) {
		d, was := obj.(*storagev1.CSIDriver), old.(*storagev1.CSIDriver)
		if !apiequality.Semantic.DeepEqual(d.Spec, was.Spec) {
			d.Generation = was.Generation + 1
		}
	}
	csiDriver.RequireResourceVersion = true
	add(csiDriver, "csidrivers")
	csiNode := gv(storageGroup, "v1", "csinodes", "csinode", "CSINode", false,
		func() runtime.Object { return &storagev1.CSINode{} }, func() runtime.Object { return &storagev1.CSINodeList{} })
	csiNode.RequireResourceVersion = true
	add(csiNode, "csinodes")
	capacity := gv(storageGroup, "v1", "csistoragecapacities", "csistoragecapacity", "CSIStorageCapacity", true,
		func() runtime.Object { return &storagev1.CSIStorageCapacity{} }, func() runtime.Object { return &storagev1.CSIStorageCapacityList{} })
	capacity.RequireResourceVersion = true
	add(capacity, "csistoragecapacities")
	va := gv(storageGroup, "v1", "volumeattachments", "volumeattachment", "VolumeAttachment", false,
		func() runtime.Object { return &storagev1.VolumeAttachment{} }, func() runtime.Object { return &storagev1.VolumeAttachmentList{} })
	// A status write changes the status only: upstream resets the
	// metadata to the stored one.
	va.Subresources = []Subresource{{Name: "status", Kind: kind(storageGroup, "VolumeAttachment"), Verbs: VerbsSubGet, Prepare: func(sent, stored runtime.Object) {
		stored.(*storagev1.VolumeAttachment).Status = sent.(*storagev1.VolumeAttachment).Status
	}}}
	va.RequireResourceVersion = true
	add(va, "volumeattachments")

	// certificates.k8s.io/v1
	const certificates = "certificates.k8s.io"
	csr := gv(certificates, "v1", "certificatesigningrequests", "certificatesigningrequest", "CertificateSigningRequest", false,
		func() runtime.Object { return &certificatesv1.CertificateSigningRequest{} }, func() runtime.Object { return &certificatesv1.CertificateSigningRequestList{} })
	csr.ShortNames = []string{"csr"}
	csrKind := kind(certificates, "CertificateSigningRequest")
	csr.Subresources = []Subresource{
		{Name: "approval", Kind: csrKind, Verbs: VerbsSubGet, Prepare: prepareCSRApproval},
		{Name: "status", Kind: csrKind, Verbs: VerbsSubGet, Prepare: prepareCSRStatus},
	}
	csr.PrepareForCreate = prepareCSR
	csr.PrepareFromRequest = admitCSR
	csr.PrepareForUpdate = func(obj, old runtime.Object) {
		c, was := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
		c.Spec, c.Status = was.Spec, was.Status
	}
	csr.FieldSet = csrFields
	add(csr, "certificatesigningrequests")

	// flowcontrol.apiserver.k8s.io/v1: status writes change the status
	// only, the metadata stays as stored.
	const flowcontrol = "flowcontrol.apiserver.k8s.io"
	fs := gv(flowcontrol, "v1", "flowschemas", "flowschema", "FlowSchema", false,
		func() runtime.Object { return &flowcontrolv1.FlowSchema{} }, func() runtime.Object { return &flowcontrolv1.FlowSchemaList{} })
	fs.Generation = true
	fs.Subresources = []Subresource{{Name: "status", Kind: kind(flowcontrol, "FlowSchema"), Verbs: VerbsSubGet, Prepare: func(sent, stored runtime.Object) {
		stored.(*flowcontrolv1.FlowSchema).Status = sent.(*flowcontrolv1.FlowSchema).Status
	}}}
	add(fs, "flowschemas")
	pl := gv(flowcontrol, "v1", "prioritylevelconfigurations", "prioritylevelconfiguration", "PriorityLevelConfiguration", false,
		func() runtime.Object { return &flowcontrolv1.PriorityLevelConfiguration{} }, func() runtime.Object { return &flowcontrolv1.PriorityLevelConfigurationList{} })
	pl.Generation = true
	pl.Subresources = []Subresource{{Name: "status", Kind: kind(flowcontrol, "PriorityLevelConfiguration"), Verbs: VerbsSubGet, Prepare: func(sent, stored runtime.Object) {
		stored.(*flowcontrolv1.PriorityLevelConfiguration).Status = sent.(*flowcontrolv1.PriorityLevelConfiguration).Status
	}}}
	add(pl, "prioritylevelconfigurations")
}

// prepareCSR starts a request without status and clears the requester
// fields: admitCSR sets them from the caller.
func prepareCSR(obj runtime.Object) {
	csr, ok := obj.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return
	}
	csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups, csr.Spec.Extra = "", "", nil, nil
	csr.Status = certificatesv1.CertificateSigningRequestStatus{}
}

// admitCSR records who asks for the certificate, as upstream's strategy
// does from the request's user.
func admitCSR(ctx context.Context, obj runtime.Object) error {
	csr, ok := obj.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return nil
	}
	u, ok := UserFrom(ctx)
	if !ok {
		return nil
	}
	csr.Spec.Username, csr.Spec.UID = u.Name, u.UID
	csr.Spec.Groups = append([]string(nil), u.Groups...)
	if len(u.Extra) > 0 {
		csr.Spec.Extra = map[string]certificatesv1.ExtraValue{}
		for k, v := range u.Extra {
			csr.Spec.Extra[k] = append(certificatesv1.ExtraValue(nil), v...)
		}
	}
	return nil
}

// prepareCSRStatus: /status writes the status (the certificate, other
// conditions) but keeps the Approved and Denied conditions as stored,
// where their count is unchanged; validation refuses other changes.
func prepareCSRStatus(sent, stored runtime.Object) {
	in, out := sent.(*certificatesv1.CertificateSigningRequest), stored.(*certificatesv1.CertificateSigningRequest)
	old := out.DeepCopy()
	out.Status = in.Status
	out.Labels, out.Annotations = in.Labels, in.Annotations
	for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied} {
		keepConditions(out, old, t)
	}
	stampConditions(out, old)
}

// prepareCSRApproval: /approval writes the conditions only.
func prepareCSRApproval(sent, stored runtime.Object) {
	in, out := sent.(*certificatesv1.CertificateSigningRequest), stored.(*certificatesv1.CertificateSigningRequest)
	old := out.DeepCopy()
	out.Status.Conditions = in.Status.Conditions
	out.Labels, out.Annotations = in.Labels, in.Annotations
	stampConditions(out, old)
}

// keepConditions puts old's conditions of type t back in place of csr's,
// one for one, when csr has as many.
func keepConditions(csr, old *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) {
	var was, now []int
	for i, c := range old.Status.Conditions {
		if c.Type == t {
			was = append(was, i)
		}
	}
	for i, c := range csr.Status.Conditions {
		if c.Type == t {
			now = append(now, i)
		}
	}
	if len(was) != len(now) {
		return
	}
	for i := range was {
		csr.Status.Conditions[now[i]] = old.Status.Conditions[was[i]]
	}
}

// stampConditions fills missing update and transition times: now, or the
// old transition time of a condition of the same type and status.
func stampConditions(csr, old *certificatesv1.CertificateSigningRequest) {
	now := metav1.Now()
	for i := range csr.Status.Conditions {
		c := &csr.Status.Conditions[i]
		if c.LastUpdateTime.IsZero() {
			c.LastUpdateTime = now
		}
		if c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = now
			for _, o := range old.Status.Conditions {
				if o.Type == c.Type && o.Status == c.Status && !o.LastTransitionTime.IsZero() {
					c.LastTransitionTime = o.LastTransitionTime
					break
				}
			}
		}
	}
}

func csrFields(obj runtime.Object) fields.Set {
	set := metaFields(obj)
	if csr, ok := obj.(*certificatesv1.CertificateSigningRequest); ok {
		set["spec.signerName"] = csr.Spec.SignerName
	}
	return set
}
