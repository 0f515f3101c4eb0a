package printers

import (
	"sort"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Columns of node.k8s.io, networking.k8s.io, the CSI kinds and
// VolumeAttachments, certificates.k8s.io and flowcontrol, as upstream's
// internalversion printers (server-side tables print wide).

var runtimeClassColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	// Upstream looks the description up in ObjectMeta's docs, which have
	// none for "handler".
	column("Handler", "string", ""),
	ageColumn(),
}

func runtimeClassRow(rc *nodev1.RuntimeClass, now time.Time) metav1.TableRow {
	return cells(rc.Name, rc.Handler, age(rc.CreationTimestamp, now))
}

var ingressColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Class", "string", "The name of the IngressClass resource that should be used for additional configuration"),
	column("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
	column("Address", "string", "Address is a list containing ingress points for the load-balancer"),
	column("Ports", "string", "Ports of TLS configurations that open"),
	ageColumn(),
}

func ingressRow(ing *networkingv1.Ingress, now time.Time) metav1.TableRow {
	class := none
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	return cells(ing.Name, class, ingressHosts(ing.Spec.Rules), ingressAddresses(ing), ingressPorts(ing), age(ing.CreationTimestamp, now))
}

// ingressHosts lists up to three hosts; once three are listed, any
// further rule adds upstream's " + N more..." (N counts every rule past
// the third, with or without a host).
func ingressHosts(rules []networkingv1.IngressRule) string {
	var hosts []string
	more := false
	for _, r := range rules {
		if len(hosts) == 3 {
			more = true
		}
		if !more && r.Host != "" {
			hosts = append(hosts, r.Host)
		}
	}
	switch {
	case len(hosts) == 0:
		return "*"
	case more:
		return firstNWithMore(hosts, len(rules), 3)
	}
	return strings.Join(hosts, ",")
}

func ingressAddresses(ing *networkingv1.Ingress) string {
	seen := map[string]bool{}
	var addrs []string
	for _, lb := range ing.Status.LoadBalancer.Ingress {
		a := lb.IP
		if a == "" {
			a = lb.Hostname
		}
		if a != "" && !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	sort.Strings(addrs)
	return strings.Join(addrs, ",")
}

func ingressPorts(ing *networkingv1.Ingress) string {
	if len(ing.Spec.TLS) > 0 {
		return "80, 443"
	}
	return "80"
}

var ingressClassColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Controller", "string", "Controller that is responsible for handling this class"),
	column("Parameters", "string", "A reference to a resource with additional parameters"),
	ageColumn(),
}

func ingressClassRow(ic *networkingv1.IngressClass, now time.Time) metav1.TableRow {
	params := none
	if p := ic.Spec.Parameters; p != nil {
		params = p.Kind
		if p.APIGroup != nil {
			params += "." + *p.APIGroup
		}
		params += "/" + p.Name
	}
	return cells(ic.Name, ic.Spec.Controller, params, age(ic.CreationTimestamp, now))
}

var (
	csiDriverDoc = storagev1.CSIDriverSpec{}.SwaggerDoc()
	vaSpecDoc    = storagev1.VolumeAttachmentSpec{}.SwaggerDoc()
)

var csiDriverColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("AttachRequired", "boolean", csiDriverDoc["attachRequired"]),
	column("PodInfoOnMount", "boolean", csiDriverDoc["podInfoOnMount"]),
	column("StorageCapacity", "boolean", csiDriverDoc["storageCapacity"]),
	column("TokenRequests", "string", csiDriverDoc["tokenRequests"]),
	column("RequiresRepublish", "boolean", csiDriverDoc["requiresRepublish"]),
	column("Modes", "string", csiDriverDoc["volumeLifecycleModes"]),
	ageColumn(),
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

func csiDriverRow(d *storagev1.CSIDriver, now time.Time) metav1.TableRow {
	modes := make([]string, len(d.Spec.VolumeLifecycleModes))
	for i, m := range d.Spec.VolumeLifecycleModes {
		modes[i] = string(m)
	}
	tokens := unset
	if d.Spec.TokenRequests != nil {
		aud := make([]string, len(d.Spec.TokenRequests))
		for i, t := range d.Spec.TokenRequests {
			aud[i] = t.Audience
		}
		tokens = strings.Join(aud, ",")
	}
	return cells(d.Name, boolOr(d.Spec.AttachRequired, true), boolOr(d.Spec.PodInfoOnMount, false), boolOr(d.Spec.StorageCapacity, false),
		tokens, boolOr(d.Spec.RequiresRepublish, false), orNone(strings.Join(modes, ",")), age(d.CreationTimestamp, now))
}

var csiNodeColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the node"),
	ageColumn(),
}

func csiNodeRow(n *storagev1.CSINode, now time.Time) metav1.TableRow {
	return cells(n.Name, int64(len(n.Spec.Drivers)), age(n.CreationTimestamp, now))
}

var csiStorageCapacityDoc = storagev1.CSIStorageCapacity{}.SwaggerDoc()

var csiStorageCapacityColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("StorageClassName", "string", csiStorageCapacityDoc["storageClassName"]),
	column("Capacity", "string", csiStorageCapacityDoc["capacity"]),
}

func csiStorageCapacityRow(c *storagev1.CSIStorageCapacity, _ time.Time) metav1.TableRow {
	capacity := unset
	if c.Capacity != nil {
		capacity = c.Capacity.String()
	}
	return cells(c.Name, c.StorageClassName, capacity)
}

var volumeAttachmentColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	{Name: "Attacher", Type: "string", Format: "name", Description: vaSpecDoc["attacher"]},
	column("PV", "string", storagev1.VolumeAttachmentSource{}.SwaggerDoc()["persistentVolumeName"]),
	column("Node", "string", vaSpecDoc["nodeName"]),
	column("Attached", "boolean", storagev1.VolumeAttachmentStatus{}.SwaggerDoc()["attached"]),
	ageColumn(),
}

func volumeAttachmentRow(va *storagev1.VolumeAttachment, now time.Time) metav1.TableRow {
	pv := ""
	if n := va.Spec.Source.PersistentVolumeName; n != nil {
		pv = *n
	}
	return cells(va.Name, va.Spec.Attacher, pv, va.Spec.NodeName, va.Status.Attached, age(va.CreationTimestamp, now))
}

var csrSpecDoc = certificatesv1.CertificateSigningRequestSpec{}.SwaggerDoc()

var csrColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	ageColumn(),
	column("SignerName", "string", csrSpecDoc["signerName"]),
	// Upstream describes the requestor with the request's doc.
	column("Requestor", "string", csrSpecDoc["request"]),
	column("RequestedDuration", "string", csrSpecDoc["expirationSeconds"]),
	column("Condition", "string", certificatesv1.CertificateSigningRequestStatus{}.SwaggerDoc()["conditions"]),
}

func csrRow(csr *certificatesv1.CertificateSigningRequest, now time.Time) metav1.TableRow {
	duration := none
	if e := csr.Spec.ExpirationSeconds; e != nil {
		duration = humanSeconds(*e)
	}
	return cells(csr.Name, age(csr.CreationTimestamp, now), orNone(csr.Spec.SignerName), csr.Spec.Username, duration, csrCondition(csr))
}

func humanSeconds(s int32) string {
	return duration.HumanDuration(time.Duration(s) * time.Second)
}

// csrCondition is Denied, Approved or Pending, then Failed and Issued.
func csrCondition(csr *certificatesv1.CertificateSigningRequest) string {
	var approved, denied, failed bool
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved:
			approved = true
		case certificatesv1.CertificateDenied:
			denied = true
		case certificatesv1.CertificateFailed:
			failed = true
		}
	}
	s := "Pending"
	switch {
	case denied:
		s = "Denied"
	case approved:
		s = "Approved"
	}
	if failed {
		s += ",Failed"
	}
	if len(csr.Status.Certificate) > 0 {
		s += ",Issued"
	}
	return s
}

var flowSchemaColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("PriorityLevel", "string", flowcontrolv1.PriorityLevelConfigurationReference{}.SwaggerDoc()["name"]),
	column("MatchingPrecedence", "string", flowcontrolv1.FlowSchemaSpec{}.SwaggerDoc()["matchingPrecedence"]),
	column("DistinguisherMethod", "string", flowcontrolv1.FlowSchemaSpec{}.SwaggerDoc()["distinguisherMethod"]),
	ageColumn(),
	column("MissingPL", "string", "references a broken or non-existent PriorityLevelConfiguration"),
}

func flowSchemaRow(fs *flowcontrolv1.FlowSchema, now time.Time) metav1.TableRow {
	method := none
	if d := fs.Spec.DistinguisherMethod; d != nil {
		method = string(d.Type)
	}
	missing := "?"
	for _, c := range fs.Status.Conditions {
		if c.Type == flowcontrolv1.FlowSchemaConditionDangling {
			missing = string(c.Status)
			break
		}
	}
	return cells(fs.Name, fs.Spec.PriorityLevelConfiguration.Name, int64(fs.Spec.MatchingPrecedence), method, age(fs.CreationTimestamp, now), missing)
}

var (
	queuingDoc           = flowcontrolv1.QueuingConfiguration{}.SwaggerDoc()
	priorityLevelColumns = []metav1.TableColumnDefinition{
		nameColumn(),
		column("Type", "string", flowcontrolv1.PriorityLevelConfigurationSpec{}.SwaggerDoc()["type"]),
		column("NominalConcurrencyShares", "string", flowcontrolv1.LimitedPriorityLevelConfiguration{}.SwaggerDoc()["nominalConcurrencyShares"]),
		column("Queues", "string", queuingDoc["queues"]),
		column("HandSize", "string", queuingDoc["handSize"]),
		column("QueueLengthLimit", "string", queuingDoc["queueLengthLimit"]),
		ageColumn(),
	}
)

func priorityLevelRow(pl *flowcontrolv1.PriorityLevelConfiguration, now time.Time) metav1.TableRow {
	var shares, queues, hand, limit any = none, none, none, none
	if l := pl.Spec.Limited; l != nil {
		shares = int64(deref32(l.NominalConcurrencyShares))
		if q := l.LimitResponse.Queuing; q != nil {
			queues, hand, limit = int64(q.Queues), int64(q.HandSize), int64(q.QueueLengthLimit)
		}
	}
	return cells(pl.Name, string(pl.Spec.Type), shares, queues, hand, limit, age(pl.CreationTimestamp, now))
}

func deref32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
