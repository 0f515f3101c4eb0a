package printers

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// resourceQuotaColumns are upstream's `kubectl get quota` columns.
// LimitRanges use the default table (Name, Created At), as upstream's.
var resourceQuotaColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	ageColumn(),
	column("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
	column("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
}

// resourceQuotaRow shows used/hard per resource of status.hard, sorted by
// name; limits.* go to LIMIT, everything else to REQUEST.
func resourceQuotaRow(q *corev1.ResourceQuota, now time.Time) metav1.TableRow {
	names := make([]string, 0, len(q.Status.Hard))
	for name := range q.Status.Hard {
		names = append(names, string(name))
	}
	sort.Strings(names)
	var request, limit []string
	for _, name := range names {
		used, hard := q.Status.Used[corev1.ResourceName(name)], q.Status.Hard[corev1.ResourceName(name)]
		entry := fmt.Sprintf("%s: %s/%s", name, used.String(), hard.String())
		if pieces := strings.Split(name, "."); len(pieces) > 1 && pieces[0] == "limits" {
			limit = append(limit, entry)
		} else {
			request = append(request, entry)
		}
	}
	return cells(q.Name, age(q.CreationTimestamp, now), strings.Join(request, ", "), strings.Join(limit, ", "))
}
