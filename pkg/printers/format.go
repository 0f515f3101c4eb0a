package printers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Placeholders kubectl users know from upstream output.
const (
	none    = "<none>"
	unset   = "<unset>"
	unknown = "<unknown>"
)

// Column definitions. Upstream takes most descriptions from the generated
// swagger docs; kubectl never shows them, but clients like dashboards do.
var objectMetaDoc = metav1.ObjectMeta{}.SwaggerDoc()

func nameColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]}
}

func ageColumn() metav1.TableColumnDefinition {
	return column("Age", "string", objectMetaDoc["creationTimestamp"])
}

func column(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

// wide marks a column that kubectl shows only with `-o wide`.
func wide(c metav1.TableColumnDefinition) metav1.TableColumnDefinition {
	c.Priority = 1
	return c
}

// The three wide columns every pod-template owner shares.
func containersColumn() metav1.TableColumnDefinition {
	return wide(column("Containers", "string", "Names of each container in the template."))
}

func imagesColumn() metav1.TableColumnDefinition {
	return wide(column("Images", "string", "Images referenced by each container in the template."))
}

func cells(values ...any) metav1.TableRow {
	return metav1.TableRow{Cells: values}
}

// age renders a timestamp the way upstream's translateTimestampSince does.
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return unknown
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// microAge is age for MicroTime fields (events).
func microAge(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return unknown
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// containerCells joins container names and images, comma separated.
func containerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	im := make([]string, len(containers))
	for i, c := range containers {
		n[i], im[i] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

func boolPtr(b *bool) string {
	if b == nil {
		return unset
	}
	if *b {
		return "True"
	}
	return "False"
}

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

// firstNWithMore joins at most max entries and appends upstream's
// " + N more..." suffix when total exceeds max; empty lists print empty.
func firstNWithMore(list []string, total, max int) string {
	s := strings.Join(list, ",")
	if total > max {
		return fmt.Sprintf("%s + %d more...", s, total-max)
	}
	return s
}
