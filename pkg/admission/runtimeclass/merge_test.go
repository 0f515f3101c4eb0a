package runtimeclass

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestMergeTolerations(t *testing.T) {
	secs := func(s int64) *int64 { return &s }
	exists := func(key string, effect corev1.TaintEffect) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect}
	}
	tests := []struct {
		name          string
		first, second []corev1.Toleration
		want          []corev1.Toleration
	}{
		{"disjoint", []corev1.Toleration{exists("a", "")}, []corev1.Toleration{exists("b", corev1.TaintEffectNoSchedule)},
			[]corev1.Toleration{exists("a", ""), exists("b", corev1.TaintEffectNoSchedule)}},
		{"duplicate", []corev1.Toleration{exists("a", "")}, []corev1.Toleration{exists("a", "")}, []corev1.Toleration{exists("a", "")}},
		{"covered by a later, wider one", []corev1.Toleration{exists("a", corev1.TaintEffectNoSchedule)}, []corev1.Toleration{exists("a", "")},
			[]corev1.Toleration{exists("a", "")}},
		{"tolerate everything", []corev1.Toleration{{Key: "a", Operator: corev1.TolerationOpEqual, Value: "x"}}, []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			[]corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
		{"a shorter NoExecute window is covered by a longer one",
			[]corev1.Toleration{{Key: "n", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(300)}},
			[]corev1.Toleration{{Key: "n", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(30)}},
			[]corev1.Toleration{{Key: "n", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(300)}}},
		{"values differ", []corev1.Toleration{{Key: "a", Operator: corev1.TolerationOpEqual, Value: "x"}}, []corev1.Toleration{{Key: "a", Value: "y"}},
			[]corev1.Toleration{{Key: "a", Operator: corev1.TolerationOpEqual, Value: "x"}, {Key: "a", Value: "y"}}},
	}
	for _, tc := range tests {
		if got := mergeTolerations(tc.first, tc.second); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
