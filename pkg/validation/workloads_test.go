package validation

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestWorkloadErrors(t *testing.T) {
	objs := validObjects()
	deploy := func(f func(*appsv1.Deployment)) runtime.Object {
		d := validDeployment()
		f(d)
		return d
	}
	sts := func(f func(*appsv1.StatefulSet)) runtime.Object {
		s := objs["StatefulSet"].DeepCopyObject().(*appsv1.StatefulSet)
		f(s)
		return s
	}
	job := func(f func(*batchv1.Job)) runtime.Object {
		j := objs["Job"].DeepCopyObject().(*batchv1.Job)
		f(j)
		return j
	}
	cron := func(f func(*batchv1.CronJob)) runtime.Object {
		c := objs["CronJob"].DeepCopyObject().(*batchv1.CronJob)
		f(c)
		return c
	}
	tests := []struct {
		name string
		obj  runtime.Object
		want string
	}{
		{"negative replicas", deploy(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(-1)) }), "spec.replicas: Invalid value: -1: must be greater than or equal to 0"},
		{"selector required", deploy(func(d *appsv1.Deployment) { d.Spec.Selector = nil }), "spec.selector: Required value"},
		{"empty selector", deploy(func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }), "empty selector is invalid for deployment"},
		{"selector mismatch", deploy(func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "other"} }),
			"spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`"},
		{"restartPolicy in deployment", deploy(func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }),
			`spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"`},
		{"activeDeadlineSeconds in deployment", deploy(func(d *appsv1.Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr(int64(5)) }),
			"spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported"},
		{"both zero", deploy(func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr(intstr.FromInt32(0)), MaxSurge: ptr(intstr.FromString("0%"))}
		}), "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"},
		{"bad percent", deploy(func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr(intstr.FromString("abc"))
		}), `spec.strategy.rollingUpdate.maxSurge: Invalid value: "abc": a valid percent string must be`},
		{"maxUnavailable over 100%", deploy(func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromString("120%"))
		}), "must not be greater than 100%"},
		{"recreate with rollingUpdate", deploy(func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType }),
			"spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"},
		{"strategy type", deploy(func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "Blue" }), `spec.strategy.type: Unsupported value: "Blue"`},
		{"progressDeadline", deploy(func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 600 }), "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"},
		{"revisionHistoryLimit", deploy(func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr(int32(-2)) }), "spec.revisionHistoryLimit: Invalid value: -2: must be greater than or equal to 0"},
		{"template image", deploy(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" }), "spec.template.spec.containers[0].image: Required value"},
		{"sts podManagementPolicy", sts(func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Random" }), `spec.podManagementPolicy: Invalid value: "Random": must be 'OrderedReady' or 'Parallel'`},
		{"sts empty selector", sts(func(s *appsv1.StatefulSet) { s.Spec.Selector = &metav1.LabelSelector{} }), "empty selector is invalid for statefulset"},
		{"job restartPolicy default", job(func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "" }),
			`spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"`},
		{"job parallelism", job(func(j *batchv1.Job) { j.Spec.Parallelism = ptr(int32(-1)) }), "spec.parallelism: Invalid value: -1: must be greater than or equal to 0"},
		{"job completionMode", job(func(j *batchv1.Job) { j.Spec.CompletionMode = ptr(batchv1.CompletionMode("Sometimes")) }), `spec.completionMode: Unsupported value: "Sometimes"`},
		{"indexed needs completions", job(func(j *batchv1.Job) { j.Spec.CompletionMode = ptr(batchv1.IndexedCompletion); j.Spec.Completions = nil }),
			"spec.completions: Required value: when completion mode is Indexed"},
		{"cron schedule required", cron(func(c *batchv1.CronJob) { c.Spec.Schedule = "" }), "spec.schedule: Required value"},
		{"cron bad schedule", cron(func(c *batchv1.CronJob) { c.Spec.Schedule = "* * *" }), `spec.schedule: Invalid value: "* * *": expected exactly 5 fields, found 3: [* * *]`},
		{"cron out of range", cron(func(c *batchv1.CronJob) { c.Spec.Schedule = "61 * * * *" }), "end of range (61) above maximum (59): 61"},
		{"cron TZ in schedule", cron(func(c *batchv1.CronJob) { c.Spec.TimeZone = nil; c.Spec.Schedule = "TZ=UTC * * * * *" }), "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"},
		{"cron timezone", cron(func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr("Mars/Olympus") }), "spec.timeZone: Invalid value:"},
		{"cron concurrency", cron(func(c *batchv1.CronJob) { c.Spec.ConcurrencyPolicy = "Sometimes" }), `spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"`},
		{"cron name length", cron(func(c *batchv1.CronJob) { c.Name = strings.Repeat("a", 53) }), "metadata.name: Invalid value: \"" + strings.Repeat("a", 53) + "\": must be no more than 52 characters"},
		{"cron job template restart", cron(func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}),
			`spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: "Always"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errText(ValidateCreate(tt.obj))
			if !strings.Contains(got, tt.want) {
				t.Errorf("want %q\n got %q", tt.want, got)
			}
		})
	}
}

// TestCronSchedules checks that validation accepts what the controller's
// parser (the same robfig/cron ParseStandard) runs, @every included, and
// refuses the rest with the library's reason.
func TestCronSchedules(t *testing.T) {
	path := field.NewPath("spec", "schedule")
	for _, s := range []string{"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight", "@every 5m", "@every 1h30m", "0 0 * * MON-FRI", "*/15 0-6 1,15 JAN-jun sun", "0 12 ? * *"} {
		if errs := validateSchedule(s, false, nil, path); len(errs) > 0 {
			t.Errorf("%q: %v", s, errs)
		}
	}
	for _, s := range []string{"@often", "* * * * * *", "0 24 * * *", "5-1 * * * *", "*/0 * * * *", "x * * * *", "@every soon"} {
		if errs := validateSchedule(s, false, nil, path); len(errs) == 0 {
			t.Errorf("%q: want an error", s)
		}
	}
	// A TZ prefix is refused on a create, kept on an update of an object
	// that has one, and refused there only together with spec.timeZone.
	tz := "Europe/Berlin"
	for _, tc := range []struct {
		allowTZ bool
		tz      *string
		want    string
	}{
		{false, nil, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"},
		{true, nil, ""},
		{true, &tz, "cannot use both timeZone field and TZ or CRON_TZ in schedule"},
	} {
		errs := validateSchedule("CRON_TZ=UTC 0 * * * *", tc.allowTZ, tc.tz, path)
		if got := errs.ToAggregate(); (tc.want == "") != (got == nil) || (got != nil && !strings.Contains(got.Error(), tc.want)) {
			t.Errorf("allowTZ=%v tz=%v: got %v, want %q", tc.allowTZ, tc.tz, got, tc.want)
		}
	}
}

func TestWorkloadUpdates(t *testing.T) {
	objs := validObjects()
	d := validDeployment()
	d2 := d.DeepCopy()
	d2.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "v": "2"}}
	d2.Spec.Template.Labels["v"] = "2"
	expectText(t, ValidateUpdate(d2, d), "spec.selector: Invalid value:", "field is immutable")

	s := objs["StatefulSet"].(*appsv1.StatefulSet)
	s2 := s.DeepCopy()
	s2.Spec.Replicas = ptr(int32(5))
	s2.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	if errs := ValidateUpdate(s2, s); len(errs) > 0 {
		t.Errorf("allowed sts update rejected: %s", errText(errs))
	}
	s2.Spec.ServiceName = "other"
	expectText(t, ValidateUpdate(s2, s), "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template'")

	j := objs["Job"].(*batchv1.Job)
	j2 := j.DeepCopy()
	j2.Spec.Template.Spec.Containers[0].Image = "other"
	expectText(t, ValidateUpdate(j2, j), "spec.template: Invalid value:", "field is immutable")

	ds := objs["DaemonSet"].(*appsv1.DaemonSet)
	ds2 := ds.DeepCopy()
	ds2.Spec.UpdateStrategy.Type = "Sometimes"
	expectText(t, ValidateUpdate(ds2, ds), `spec.updateStrategy.type: Unsupported value: "Sometimes": supported values: "OnDelete", "RollingUpdate"`)

	rc := objs["ReplicationController"].(*corev1.ReplicationController)
	rc2 := rc.DeepCopy()
	rc2.Spec.Selector = map[string]string{"app": "other"}
	expectText(t, ValidateUpdate(rc2, rc), "spec.template.metadata.labels: Invalid value:", "`selector` does not match template `labels`")
}

// expectText asserts that the rendered errors contain every part.
func expectText(t *testing.T, errs field.ErrorList, parts ...string) {
	t.Helper()
	got := errText(errs)
	for _, p := range parts {
		if !strings.Contains(got, p) {
			t.Errorf("want %q in %q", p, got)
		}
	}
}
