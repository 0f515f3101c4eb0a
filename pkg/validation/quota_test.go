package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestQuotaAndLimitRangeValidation(t *testing.T) {
	t.Parallel()
	q := resource.MustParse
	meta := metav1.ObjectMeta{Name: "x", Namespace: "ns"}
	quota := func(hard corev1.ResourceList, scopes ...corev1.ResourceQuotaScope) *corev1.ResourceQuota {
		return &corev1.ResourceQuota{ObjectMeta: meta, Spec: corev1.ResourceQuotaSpec{Hard: hard, Scopes: scopes}}
	}
	lr := func(item corev1.LimitRangeItem) *corev1.LimitRange {
		return &corev1.LimitRange{ObjectMeta: meta, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{item}}}
	}
	for _, tc := range []struct {
		name string
		errs string
		want string
	}{
		{"valid quota", msg(ValidateCreate(quota(corev1.ResourceList{"pods": q("2"), "requests.cpu": q("1"), "count/deployments.apps": q("1")}))), ""},
		{"unknown resource", msg(ValidateCreate(quota(corev1.ResourceList{"cpus": q("1")}))), `spec.hard[cpus]: Invalid value: "cpus": must be a standard resource for quota`},
		{"negative", msg(ValidateCreate(quota(corev1.ResourceList{"pods": q("-1")}))), `spec.hard[pods]: Invalid value: "-1": must be greater than or equal to 0`},
		{"fraction", msg(ValidateCreate(quota(corev1.ResourceList{"pods": q("1500m")}))), `spec.hard[pods]: Invalid value: "1500m": must be an integer`},
		{"scope on services", msg(ValidateCreate(quota(corev1.ResourceList{"services": q("1")}, corev1.ResourceQuotaScopeBestEffort))), `spec.scopes: Invalid value: ["BestEffort"]: unsupported scope applied to resource`},
		{"conflicting scopes", msg(ValidateCreate(quota(corev1.ResourceList{"pods": q("1")}, corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating))), "conflicting scopes"},
		{"pod defaults", msg(ValidateCreate(lr(corev1.LimitRangeItem{Type: corev1.LimitTypePod, Default: corev1.ResourceList{"cpu": q("1")}}))), "spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'"},
		{"default above max", msg(ValidateCreate(lr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Default: corev1.ResourceList{"cpu": q("2")}, Max: corev1.ResourceList{"cpu": q("1")}}))), `spec.limits[0].default[cpu]: Invalid value: "2": default value 2 is greater than max value 1`},
		{"ratio below 1", msg(ValidateCreate(lr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: corev1.ResourceList{"cpu": q("500m")}}))), `spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: "500m": ratio 500m is less than 1`},
		{"pvc without bounds", msg(ValidateCreate(lr(corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim}))), "spec.limits[0].limits: Required value: either minimum or maximum storage value is required, but neither was provided"},
	} {
		if tc.want == "" {
			if tc.errs != "" {
				t.Errorf("%s: %s", tc.name, tc.errs)
			}
			continue
		}
		if !strings.Contains(tc.errs, tc.want) {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, tc.errs, tc.want)
		}
	}
}

func msg(errs field.ErrorList) string {
	if len(errs) == 0 {
		return ""
	}
	return errs.ToAggregate().Error()
}
