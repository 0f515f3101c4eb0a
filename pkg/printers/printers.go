package printers

import (
	"fmt"
	storagev1 "k8s.io/api/storage/v1"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	settingsv1alpha1 "github.com/flotilla-io/flotilla/pkg/apis/settings/v1alpha1"
)

// printer is one registry entry: the column set of a kind and a function
// that renders the rows of one concrete list.
type printer struct {
	columns []metav1.TableColumnDefinition
	rows    func(now time.Time) []metav1.TableRow
}

// lookup is the registry. It is a type switch rather than a reflect-keyed
// map so that adding a kind stays a compile-checked one-liner.
func lookup(list runtime.Object) (printer, bool) {
	switch l := list.(type) {
	// core/v1
	case *corev1.NamespaceList:
		return printer{namespaceColumns, rowsOf(l.Items, namespaceRow)}, true
	// rbac.authorization.k8s.io/v1
	case *rbacv1.RoleList:
		return printer{roleColumns, rowsOf(l.Items, roleRow)}, true
	case *rbacv1.ClusterRoleList:
		return printer{roleColumns, rowsOf(l.Items, clusterRoleRow)}, true
	case *rbacv1.RoleBindingList:
		return printer{roleBindingColumns, rowsOf(l.Items, roleBindingRow)}, true
	case *rbacv1.ClusterRoleBindingList:
		return printer{roleBindingColumns, rowsOf(l.Items, clusterRoleBindingRow)}, true
	case *corev1.PodList:
		return printer{podColumns, rowsOf(l.Items, podRow)}, true
	case *corev1.PodTemplateList:
		return printer{podTemplateColumns, rowsOf(l.Items, podTemplateRow)}, true
	case *corev1.ResourceQuotaList:
		return printer{resourceQuotaColumns, rowsOf(l.Items, resourceQuotaRow)}, true
	case *corev1.ConfigMapList:
		return printer{configMapColumns, rowsOf(l.Items, configMapRow)}, true
	case *corev1.SecretList:
		return printer{secretColumns, rowsOf(l.Items, secretRow)}, true
	case *corev1.NodeList:
		return printer{nodeColumns, rowsOf(l.Items, nodeRow)}, true
	case *corev1.EventList:
		return printer{eventColumns, rowsOf(l.Items, eventRow)}, true
	case *corev1.ServiceList:
		return printer{serviceColumns, rowsOf(l.Items, serviceRow)}, true
	case *corev1.EndpointsList:
		return printer{endpointsColumns, rowsOf(l.Items, endpointsRow)}, true
	case *corev1.ServiceAccountList:
		return printer{serviceAccountColumns, rowsOf(l.Items, serviceAccountRow)}, true
	case *corev1.ReplicationControllerList:
		return printer{replicationControllerColumns, rowsOf(l.Items, replicationControllerRow)}, true
	case *corev1.PersistentVolumeClaimList:
		return printer{pvcColumns, rowsOf(l.Items, pvcRow)}, true
	case *corev1.PersistentVolumeList:
		return printer{pvColumns, rowsOf(l.Items, pvRow)}, true
	// apps/v1
	case *appsv1.DeploymentList:
		return printer{deploymentColumns, rowsOf(l.Items, deploymentRow)}, true
	case *appsv1.ReplicaSetList:
		return printer{replicaSetColumns, rowsOf(l.Items, replicaSetRow)}, true
	case *appsv1.DaemonSetList:
		return printer{daemonSetColumns, rowsOf(l.Items, daemonSetRow)}, true
	case *appsv1.StatefulSetList:
		return printer{statefulSetColumns, rowsOf(l.Items, statefulSetRow)}, true
	case *appsv1.ControllerRevisionList:
		return printer{controllerRevisionColumns, rowsOf(l.Items, controllerRevisionRow)}, true
	// batch/v1
	case *batchv1.JobList:
		return printer{jobColumns, rowsOf(l.Items, jobRow)}, true
	case *batchv1.CronJobList:
		return printer{cronJobColumns, rowsOf(l.Items, cronJobRow)}, true
	// autoscaling: both versions share upstream's internal (v2-shaped) printer.
	case *autoscalingv2.HorizontalPodAutoscalerList:
		return printer{hpaColumns, rowsOf(l.Items, hpaV2Row)}, true
	case *autoscalingv1.HorizontalPodAutoscalerList:
		return printer{hpaColumns, rowsOf(l.Items, hpaV1Row)}, true
	// others
	case *coordinationv1.LeaseList:
		return printer{leaseColumns, rowsOf(l.Items, leaseRow)}, true
	case *eventsv1.EventList:
		// events.k8s.io shares storage and printer with core events upstream.
		return printer{eventColumns, rowsOf(l.Items, eventsV1Row)}, true
	case *discoveryv1.EndpointSliceList:
		return printer{endpointSliceColumns, rowsOf(l.Items, endpointSliceRow)}, true
	case *policyv1.PodDisruptionBudgetList:
		return printer{pdbColumns, rowsOf(l.Items, pdbRow)}, true
	case *schedulingv1.PriorityClassList:
		return printer{priorityClassColumns, rowsOf(l.Items, priorityClassRow)}, true
	case *storagev1.StorageClassList:
		return printer{storageClassColumns, rowsOf(l.Items, storageClassRow)}, true
	case *storagev1.CSIDriverList:
		return printer{csiDriverColumns, rowsOf(l.Items, csiDriverRow)}, true
	case *storagev1.CSINodeList:
		return printer{csiNodeColumns, rowsOf(l.Items, csiNodeRow)}, true
	case *storagev1.CSIStorageCapacityList:
		return printer{csiStorageCapacityColumns, rowsOf(l.Items, csiStorageCapacityRow)}, true
	case *storagev1.VolumeAttachmentList:
		return printer{volumeAttachmentColumns, rowsOf(l.Items, volumeAttachmentRow)}, true
	case *nodev1.RuntimeClassList:
		return printer{runtimeClassColumns, rowsOf(l.Items, runtimeClassRow)}, true
	case *networkingv1.IngressList:
		return printer{ingressColumns, rowsOf(l.Items, ingressRow)}, true
	case *networkingv1.IngressClassList:
		return printer{ingressClassColumns, rowsOf(l.Items, ingressClassRow)}, true
	case *networkingv1.NetworkPolicyList:
		return printer{networkPolicyColumns, rowsOf(l.Items, networkPolicyRow)}, true
	case *certificatesv1.CertificateSigningRequestList:
		return printer{csrColumns, rowsOf(l.Items, csrRow)}, true
	case *flowcontrolv1.FlowSchemaList:
		return printer{flowSchemaColumns, rowsOf(l.Items, flowSchemaRow)}, true
	case *flowcontrolv1.PriorityLevelConfigurationList:
		return printer{priorityLevelColumns, rowsOf(l.Items, priorityLevelRow)}, true
	case *settingsv1alpha1.PodPresetList:
		return printer{podPresetColumns, rowsOf(l.Items, podPresetRow)}, true
	}
	return printer{}, false
}

// rowsOf defers rendering until the caller supplies the clock.
func rowsOf[T any](items []T, row func(*T, time.Time) metav1.TableRow) func(time.Time) []metav1.TableRow {
	return func(now time.Time) []metav1.TableRow {
		rows := make([]metav1.TableRow, len(items))
		for i := range items {
			rows[i] = row(&items[i], now)
		}
		return rows
	}
}

// Columns returns the column definitions for a list object (e.g.
// *corev1.PodList); ok=false for kinds without specific columns.
func Columns(list runtime.Object) ([]metav1.TableColumnDefinition, bool) {
	p, ok := lookup(list)
	if !ok {
		return nil, false
	}
	// A copy, so a caller editing its Table cannot corrupt the shared set.
	return slices.Clone(p.columns), true
}

// Rows returns exactly one row per item of the list, in order. Only Cells
// (and, for pods, Conditions) are set; the caller fills Object. now is the
// reference time for AGE and other relative durations.
func Rows(list runtime.Object, now time.Time) ([]metav1.TableRow, error) {
	p, ok := lookup(list)
	if !ok {
		return nil, fmt.Errorf("printers: no table columns for %T", list)
	}
	return p.rows(now), nil
}

// DefaultColumns is upstream's generic table (rest.NewDefaultTableConvertor),
// used for kinds without specific columns.
func DefaultColumns() []metav1.TableColumnDefinition {
	doc := metav1.ObjectMeta{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: doc["name"]},
		{Name: "Created At", Type: "date", Description: doc["creationTimestamp"]},
	}
}

// DefaultRows renders DefaultColumns: the name and the creation time as an
// absolute RFC 3339 UTC timestamp (not an age), as upstream does. now is
// unused but kept for symmetry with Rows.
func DefaultRows(list runtime.Object, _ time.Time) ([]metav1.TableRow, error) {
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	rows := make([]metav1.TableRow, 0, len(items))
	for _, item := range items {
		m, err := meta.Accessor(item)
		if err != nil {
			return nil, err
		}
		created := m.GetCreationTimestamp()
		rows = append(rows, metav1.TableRow{Cells: []any{m.GetName(), created.UTC().Format(time.RFC3339)}})
	}
	return rows, nil
}
