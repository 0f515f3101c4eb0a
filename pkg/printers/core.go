package printers

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

var namespaceColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Status", "string", "The status of the namespace"),
	ageColumn(),
}

func namespaceRow(ns *corev1.Namespace, now time.Time) metav1.TableRow {
	return cells(ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp, now))
}

var configMapColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Data", "string", corev1.ConfigMap{}.SwaggerDoc()["data"]),
	ageColumn(),
}

func configMapRow(cm *corev1.ConfigMap, now time.Time) metav1.TableRow {
	return cells(cm.Name, int64(len(cm.Data)+len(cm.BinaryData)), age(cm.CreationTimestamp, now))
}

var secretColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Type", "string", corev1.Secret{}.SwaggerDoc()["type"]),
	column("Data", "string", corev1.Secret{}.SwaggerDoc()["data"]),
	ageColumn(),
}

// secretRow counts data keys only: stringData is write-only and merged into
// data on write.
func secretRow(s *corev1.Secret, now time.Time) metav1.TableRow {
	return cells(s.Name, string(s.Type), int64(len(s.Data)), age(s.CreationTimestamp, now))
}

var serviceAccountColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Secrets", "string", corev1.ServiceAccount{}.SwaggerDoc()["secrets"]),
	ageColumn(),
}

func serviceAccountRow(sa *corev1.ServiceAccount, now time.Time) metav1.TableRow {
	return cells(sa.Name, int64(len(sa.Secrets)), age(sa.CreationTimestamp, now))
}

var podTemplateColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Containers", "string", "Names of each container in the template."),
	column("Images", "string", "Images referenced by each container in the template."),
	column("Pod Labels", "string", "The labels for the pod template."),
}

func podTemplateRow(pt *corev1.PodTemplate, _ time.Time) metav1.TableRow {
	names, images := containerCells(pt.Template.Spec.Containers)
	return cells(pt.Name, names, images, labels.FormatLabels(pt.Template.Labels))
}

var nodeSystemInfoDoc = corev1.NodeSystemInfo{}.SwaggerDoc()

var nodeColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Status", "string", "The status of the node"),
	column("Roles", "string", "The roles of the node"),
	ageColumn(),
	column("Version", "string", nodeSystemInfoDoc["kubeletVersion"]),
	wide(column("Internal-IP", "string", corev1.NodeStatus{}.SwaggerDoc()["addresses"])),
	wide(column("External-IP", "string", corev1.NodeStatus{}.SwaggerDoc()["addresses"])),
	wide(column("OS-Image", "string", nodeSystemInfoDoc["osImage"])),
	wide(column("Kernel-Version", "string", nodeSystemInfoDoc["kernelVersion"])),
	wide(column("Container-Runtime", "string", nodeSystemInfoDoc["containerRuntimeVersion"])),
}

func nodeRow(n *corev1.Node, now time.Time) metav1.TableRow {
	info := n.Status.NodeInfo
	orUnknown := func(s string) string {
		if s == "" {
			return unknown
		}
		return s
	}
	return cells(n.Name, nodeStatus(n), nodeRoles(n), age(n.CreationTimestamp, now), info.KubeletVersion,
		nodeAddress(n, corev1.NodeInternalIP), nodeAddress(n, corev1.NodeExternalIP),
		orUnknown(info.OSImage), orUnknown(info.KernelVersion), orUnknown(info.ContainerRuntimeVersion))
}

// nodeStatus reports only the Ready condition (upstream dropped the others
// long ago), plus SchedulingDisabled for cordoned nodes.
func nodeStatus(n *corev1.Node) string {
	status := "Unknown"
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			status = "NotReady"
			if c.Status == corev1.ConditionTrue {
				status = "Ready"
			}
		}
	}
	if n.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

// nodeRoles collects node-role.kubernetes.io/<role> label keys and the
// legacy kubernetes.io/role=<role> label, sorted and de-duplicated.
func nodeRoles(n *corev1.Node) string {
	var roles []string
	for k, v := range n.Labels {
		if role, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok && role != "" {
			roles = append(roles, role)
		} else if k == "kubernetes.io/role" && v != "" {
			roles = append(roles, v)
		}
	}
	slices.Sort(roles)
	return orNone(strings.Join(slices.Compact(roles), ","))
}

func nodeAddress(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return none
}

var serviceSpecDoc = corev1.ServiceSpec{}.SwaggerDoc()

var serviceColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Type", "string", serviceSpecDoc["type"]),
	column("Cluster-IP", "string", serviceSpecDoc["clusterIP"]),
	column("External-IP", "string", serviceSpecDoc["externalIPs"]),
	column("Port(s)", "string", serviceSpecDoc["ports"]),
	ageColumn(),
	wide(column("Selector", "string", serviceSpecDoc["selector"])),
}

func serviceRow(svc *corev1.Service, now time.Time) metav1.TableRow {
	clusterIP := none
	if len(svc.Spec.ClusterIPs) > 0 {
		clusterIP = svc.Spec.ClusterIPs[0]
	}
	return cells(svc.Name, string(svc.Spec.Type), clusterIP, serviceExternalIP(svc),
		orNone(servicePorts(svc.Spec.Ports)), age(svc.CreationTimestamp, now), labels.FormatLabels(svc.Spec.Selector))
}

// serviceExternalIP is computed as for wide output: the server always
// renders wide cells, so load-balancer addresses are never truncated.
func serviceExternalIP(svc *corev1.Service) string {
	external := strings.Join(svc.Spec.ExternalIPs, ",")
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		return orNone(external)
	case corev1.ServiceTypeLoadBalancer:
		var lb []string
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			switch {
			case ing.IP != "":
				lb = append(lb, ing.IP)
			case ing.Hostname != "":
				lb = append(lb, ing.Hostname)
			}
		}
		slices.Sort(lb)
		lb = slices.Compact(lb)
		all := append(lb, svc.Spec.ExternalIPs...)
		if len(all) == 0 {
			return "<pending>"
		}
		return strings.Join(all, ",")
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return unknown
}

func servicePorts(ports []corev1.ServicePort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort > 0 {
			parts[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			parts[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return strings.Join(parts, ",")
}

var endpointsColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Endpoints", "string", corev1.Endpoints{}.SwaggerDoc()["subsets"]),
	ageColumn(),
}

func endpointsRow(ep *corev1.Endpoints, now time.Time) metav1.TableRow {
	return cells(ep.Name, formatEndpoints(ep), age(ep.CreationTimestamp, now))
}

// formatEndpoints lists up to three ip:port pairs (bare IPs for port-less
// headless subsets) and counts the rest as " + N more...".
func formatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return none
	}
	const max = 3
	var list []string
	total := 0
	addAll := func(addrs []corev1.EndpointAddress, port string) {
		total += len(addrs)
		for _, a := range addrs {
			if len(list) == max {
				return
			}
			if port == "" {
				list = append(list, a.IP)
			} else {
				list = append(list, net.JoinHostPort(a.IP, port))
			}
		}
	}
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			addAll(ss.Addresses, "")
			continue
		}
		for _, p := range ss.Ports {
			addAll(ss.Addresses, strconv.Itoa(int(p.Port)))
		}
	}
	return firstNWithMore(list, total, max)
}

var pvcColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Status", "string", corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["phase"]),
	column("Volume", "string", corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeName"]),
	column("Capacity", "string", corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["capacity"]),
	column("Access Modes", "string", corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["accessModes"]),
	column("StorageClass", "string", "StorageClass of the pvc"),
	column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
	ageColumn(),
	wide(column("VolumeMode", "string", corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeMode"])),
}

// betaStorageClassAnnotation still overrides storageClassName, as upstream.
const betaStorageClassAnnotation = "volume.beta.kubernetes.io/storage-class"

func pvcRow(pvc *corev1.PersistentVolumeClaim, now time.Time) metav1.TableRow {
	phase := string(pvc.Status.Phase)
	if pvc.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	// Capacity and modes are only meaningful once bound.
	capacity, modes := "", ""
	if pvc.Spec.VolumeName != "" {
		modes = accessModes(pvc.Status.AccessModes)
		q := pvc.Status.Capacity[corev1.ResourceStorage]
		capacity = q.String()
	}
	class, ok := pvc.Annotations[betaStorageClassAnnotation]
	if !ok && pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	return cells(pvc.Name, phase, pvc.Spec.VolumeName, capacity, modes, class,
		strOr(pvc.Spec.VolumeAttributesClassName, unset), age(pvc.CreationTimestamp, now), volumeMode(pvc.Spec.VolumeMode))
}

var pvSpecDoc = corev1.PersistentVolumeSpec{}.SwaggerDoc()

var pvColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Capacity", "string", pvSpecDoc["capacity"]),
	column("Access Modes", "string", pvSpecDoc["accessModes"]),
	column("Reclaim Policy", "string", pvSpecDoc["persistentVolumeReclaimPolicy"]),
	column("Status", "string", corev1.PersistentVolumeStatus{}.SwaggerDoc()["phase"]),
	column("Claim", "string", pvSpecDoc["claimRef"]),
	column("StorageClass", "string", "StorageClass of the pv"),
	column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
	column("Reason", "string", corev1.PersistentVolumeStatus{}.SwaggerDoc()["reason"]),
	ageColumn(),
	wide(column("VolumeMode", "string", pvSpecDoc["volumeMode"])),
}

func pvRow(pv *corev1.PersistentVolume, now time.Time) metav1.TableRow {
	claim := ""
	if ref := pv.Spec.ClaimRef; ref != nil {
		claim = ref.Namespace + "/" + ref.Name
	}
	phase := string(pv.Status.Phase)
	if pv.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	class, ok := pv.Annotations[betaStorageClassAnnotation]
	if !ok {
		class = pv.Spec.StorageClassName
	}
	size := pv.Spec.Capacity[corev1.ResourceStorage]
	return cells(pv.Name, size.String(), accessModes(pv.Spec.AccessModes), string(pv.Spec.PersistentVolumeReclaimPolicy),
		phase, claim, class, strOr(pv.Spec.VolumeAttributesClassName, unset), pv.Status.Reason,
		age(pv.CreationTimestamp, now), volumeMode(pv.Spec.VolumeMode))
}

// accessModes abbreviates in upstream's fixed order, whatever the input order.
func accessModes(modes []corev1.PersistentVolumeAccessMode) string {
	var out []string
	for _, m := range []struct {
		mode  corev1.PersistentVolumeAccessMode
		short string
	}{
		{corev1.ReadWriteOnce, "RWO"},
		{corev1.ReadOnlyMany, "ROX"},
		{corev1.ReadWriteMany, "RWX"},
		{corev1.ReadWriteOncePod, "RWOP"},
	} {
		if slices.Contains(modes, m.mode) {
			out = append(out, m.short)
		}
	}
	return strings.Join(out, ",")
}

func volumeMode(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return unset
	}
	return string(*m)
}

func strOr(s *string, fallback string) string {
	if s == nil {
		return fallback
	}
	return *s
}
