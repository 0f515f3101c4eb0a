package printers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	settingsv1alpha1 "github.com/flotilla-io/flotilla/pkg/apis/settings/v1alpha1"
)

// podPresetColumns are upstream 1.19's: the name and the age.
var podPresetColumns = []metav1.TableColumnDefinition{nameColumn(), ageColumn()}

func podPresetRow(p *settingsv1alpha1.PodPreset, now time.Time) metav1.TableRow {
	return cells(p.Name, age(p.CreationTimestamp, now))
}
