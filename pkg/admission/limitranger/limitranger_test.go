package limitranger

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func ctr(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func limitRange(items ...corev1.LimitRangeItem) *corev1.LimitRange {
	return &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: items}}
}

func TestSetDefaults(t *testing.T) {
	t.Parallel()
	lr := limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
		Default: rl("cpu", "500m", "memory", "512Mi"), DefaultRequest: rl("cpu", "250m", "memory", "256Mi")})
	p := &corev1.Pod{Spec: corev1.PodSpec{
		Containers:     []corev1.Container{ctr("a", nil, nil), ctr("b", rl("cpu", "1"), rl("cpu", "1", "memory", "1Gi"))},
		InitContainers: []corev1.Container{ctr("i", rl("memory", "1Mi"), nil)},
	}}
	SetDefaults(lr, p)
	want := "LimitRanger plugin set: cpu, memory request for container a; cpu, memory limit for container a; " +
		"memory request for container b; cpu request for init container i; cpu, memory limit for init container i"
	if got := p.Annotations[Annotation]; got != want {
		t.Errorf("annotation\n got %q\nwant %q", got, want)
	}
	if q := p.Spec.Containers[1].Resources.Requests["memory"]; q.String() != "256Mi" {
		t.Errorf("b's memory request %s, want the default 256Mi", q.String())
	}
	if q := p.Spec.Containers[1].Resources.Limits["cpu"]; q.String() != "1" {
		t.Errorf("b's cpu limit %s, want its own 1", q.String())
	}
	untouched := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{ctr("a", rl("cpu", "1", "memory", "1"), rl("cpu", "1", "memory", "1"))}}}
	SetDefaults(lr, untouched)
	if untouched.Annotations != nil {
		t.Errorf("a pod stating everything got %v", untouched.Annotations)
	}
}

func TestValidatePod(t *testing.T) {
	t.Parallel()
	lr := limitRange(
		corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: rl("cpu", "100m"), Max: rl("cpu", "1", "memory", "1Gi"), MaxLimitRequestRatio: rl("cpu", "2")},
		corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: rl("cpu", "1500m")},
	)
	for _, tc := range []struct {
		name string
		cs   []corev1.Container
		want string
	}{
		{"fits", []corev1.Container{ctr("a", rl("cpu", "500m", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi"))}, ""},
		{"below min", []corev1.Container{ctr("a", rl("cpu", "50m"), rl("cpu", "100m", "memory", "1Gi"))},
			"minimum cpu usage per Container is 100m, but request is 50m"},
		{"above max", []corev1.Container{ctr("a", rl("cpu", "1", "memory", "2Gi"), rl("cpu", "1", "memory", "2Gi"))},
			"maximum memory usage per Container is 1Gi, but limit is 2Gi"},
		{"no limit", []corev1.Container{ctr("a", rl("cpu", "500m"), rl("memory", "1Gi"))},
			"[maximum cpu usage per Container is 1.  No limit is specified, cpu max limit to request ratio per Container is 2, but no limit is specified or limit is 0, maximum cpu usage per Pod is 1500m.  No limit is specified]"},
		{"ratio", []corev1.Container{ctr("a", rl("cpu", "200m"), rl("cpu", "800m", "memory", "1Gi"))},
			"cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000"},
		{"pod total", []corev1.Container{ctr("a", rl("cpu", "1"), rl("cpu", "1", "memory", "1Gi")), ctr("b", rl("cpu", "1"), rl("cpu", "1", "memory", "1Gi"))},
			"maximum cpu usage per Pod is 1500m, but limit is 2"},
	} {
		err := ValidatePod(lr, &corev1.Pod{Spec: corev1.PodSpec{Containers: tc.cs}})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestValidatePVC(t *testing.T) {
	t.Parallel()
	lr := limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim, Min: rl("storage", "1Gi"), Max: rl("storage", "10Gi")})
	claim := func(req corev1.ResourceList) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: req}}}
	}
	for req, want := range map[string]string{
		"5Gi":   "",
		"500Mi": "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi",
		"20Gi":  "maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi",
	} {
		err := ValidatePVC(lr, claim(rl("storage", req)))
		if got := errString(err); got != want {
			t.Errorf("%s: got %q, want %q", req, got, want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzValidatePod: any quantities in a LimitRange and a pod are checked
// without panics, and the same input always gives the same message.
func FuzzValidatePod(f *testing.F) {
	f.Add("100m", "1", "2", "50m", "4")
	f.Add("0", "0", "0", "0", "0")
	f.Add("9223372036854775807", "1e18", "1.5", "1n", "1Ei")
	parse := func(s string) (resource.Quantity, bool) {
		q, err := resource.ParseQuantity(s)
		return q, err == nil
	}
	f.Fuzz(func(t *testing.T, minS, maxS, ratioS, reqS, limS string) {
		item := corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: corev1.ResourceList{}, Max: corev1.ResourceList{}, MaxLimitRequestRatio: corev1.ResourceList{}}
		if q, ok := parse(minS); ok {
			item.Min["cpu"] = q
		}
		if q, ok := parse(maxS); ok {
			item.Max["cpu"] = q
		}
		if q, ok := parse(ratioS); ok {
			item.MaxLimitRequestRatio["cpu"] = q
		}
		c := ctr("a", corev1.ResourceList{}, corev1.ResourceList{})
		if q, ok := parse(reqS); ok {
			c.Resources.Requests["cpu"] = q
		}
		if q, ok := parse(limS); ok {
			c.Resources.Limits["cpu"] = q
		}
		item2 := item
		podItem := corev1.LimitRangeItem{Type: corev1.LimitTypePod, Min: item.Min, Max: item.Max, MaxLimitRequestRatio: item.MaxLimitRequestRatio}
		lr := limitRange(item2, podItem)
		p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{c, c}}}
		first, second := errString(ValidatePod(lr, p)), errString(ValidatePod(lr, p))
		if first != second {
			t.Fatalf("unstable message: %q then %q", first, second)
		}
		SetDefaults(limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Default: item.Max, DefaultRequest: item.Min}), p)
	})
}
