package printers

import (
	"cmp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var eventDoc = corev1.Event{}.SwaggerDoc()

// eventColumns put Name last (and wide): events are read by what happened,
// not by their generated names.
var eventColumns = []metav1.TableColumnDefinition{
	column("Last Seen", "string", eventDoc["lastTimestamp"]),
	column("Type", "string", eventDoc["type"]),
	column("Reason", "string", eventDoc["reason"]),
	column("Object", "string", eventDoc["involvedObject"]),
	wide(column("Subobject", "string", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"])),
	wide(column("Source", "string", eventDoc["source"])),
	column("Message", "string", eventDoc["message"]),
	wide(column("First Seen", "string", eventDoc["firstTimestamp"])),
	wide(column("Count", "string", eventDoc["count"])),
	wide(metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]}),
}

func eventRow(e *corev1.Event, now time.Time) metav1.TableRow {
	return eventCells(e, now)
}

// eventsV1Row prints an events.k8s.io/v1 Event through the core shape, the
// way upstream converts both to one internal type.
func eventsV1Row(e *eventsv1.Event, now time.Time) metav1.TableRow {
	core := corev1.Event{
		ObjectMeta:          e.ObjectMeta,
		InvolvedObject:      e.Regarding,
		Reason:              e.Reason,
		Message:             e.Note,
		Source:              e.DeprecatedSource,
		FirstTimestamp:      e.DeprecatedFirstTimestamp,
		LastTimestamp:       e.DeprecatedLastTimestamp,
		Count:               e.DeprecatedCount,
		Type:                e.Type,
		EventTime:           e.EventTime,
		Action:              e.Action,
		Related:             e.Related,
		ReportingController: e.ReportingController,
		ReportingInstance:   e.ReportingInstance,
	}
	if s := e.Series; s != nil {
		core.Series = &corev1.EventSeries{Count: s.Count, LastObservedTime: s.LastObservedTime}
	}
	return eventCells(&core, now)
}

// eventCells falls back from the legacy timestamps to eventTime and the
// series, since events written through events.k8s.io only set those.
func eventCells(e *corev1.Event, now time.Time) metav1.TableRow {
	first := age(e.FirstTimestamp, now)
	if e.FirstTimestamp.IsZero() {
		first = microAge(e.EventTime, now)
	}
	last := age(e.LastTimestamp, now)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last = microAge(e.Series.LastObservedTime, now)
		count = e.Series.Count
	} else if count == 0 {
		count = 1 // singleton events in the new API carry no count
	}
	target := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		target += "/" + e.InvolvedObject.Name
	}
	return cells(last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath,
		eventSource(e), strings.TrimSpace(e.Message), first, int64(count), e.Name)
}

// eventSource is "component, host", preferring the legacy source fields
// and falling back to the reporting controller and instance.
func eventSource(e *corev1.Event) string {
	component := cmp.Or(e.Source.Component, e.ReportingController)
	host := cmp.Or(e.Source.Host, e.ReportingInstance)
	if host == "" {
		return component
	}
	return component + ", " + host
}
