package printers

import (
	"time"

	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NetworkPolicy columns, as upstream's printer: the pod selector in
// kubectl's selector syntax (`<none>` for the empty one, which selects
// every pod of the namespace).
var networkPolicyColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	// Upstream still takes the description from the extensions/v1beta1 type.
	column("Pod-Selector", "string", extensionsv1beta1.NetworkPolicySpec{}.SwaggerDoc()["podSelector"]),
	ageColumn(),
}

func networkPolicyRow(np *networkingv1.NetworkPolicy, now time.Time) metav1.TableRow {
	return cells(np.Name, metav1.FormatLabelSelector(&np.Spec.PodSelector), age(np.CreationTimestamp, now))
}
