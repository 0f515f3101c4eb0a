package validation

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// A CronJob's name plus the 11-character suffix of its Jobs must fit a
// DNS-1035 label.
const maxCronJobNameLength = 52

func validateJob(j *batchv1.Job) field.ErrorList {
	errs := validateMeta(j, true, nameIsDNSSubdomain)
	return append(errs, validateJobSpec(&j.Spec, specPath, true)...)
}

// validateJobSpec validates a Job spec; a CronJob's jobTemplate has no
// selector yet, hence requireSelector.
func validateJobSpec(s *batchv1.JobSpec, path *field.Path, requireSelector bool) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateNonnegative32(s.Parallelism, path.Child("parallelism"))...)
	errs = append(errs, validateNonnegative32(s.Completions, path.Child("completions"))...)
	errs = append(errs, validateNonnegative32(s.BackoffLimit, path.Child("backoffLimit"))...)
	errs = append(errs, validateNonnegative32(s.TTLSecondsAfterFinished, path.Child("ttlSecondsAfterFinished"))...)
	if s.ActiveDeadlineSeconds != nil {
		errs = append(errs, validateNonnegative(*s.ActiveDeadlineSeconds, path.Child("activeDeadlineSeconds"))...)
	}
	if s.BackoffLimitPerIndex != nil {
		errs = append(errs, validateNonnegative(int64(*s.BackoffLimitPerIndex), path.Child("backoffLimitPerIndex"))...)
	}
	if s.MaxFailedIndexes != nil {
		errs = append(errs, validateNonnegative(int64(*s.MaxFailedIndexes), path.Child("maxFailedIndexes"))...)
	}
	if m := s.CompletionMode; m != nil {
		valid := []batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}
		if !contains(valid, *m) {
			errs = append(errs, field.NotSupported(path.Child("completionMode"), *m, valid))
		}
		if *m == batchv1.IndexedCompletion && s.Completions == nil {
			errs = append(errs, field.Required(path.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
		}
	}
	if p := s.PodReplacementPolicy; p != nil {
		valid := []batchv1.PodReplacementPolicy{batchv1.TerminatingOrFailed, batchv1.Failed}
		if !contains(valid, *p) {
			errs = append(errs, field.NotSupported(path.Child("podReplacementPolicy"), *p, valid))
		}
	}
	selPath := path.Child("selector")
	if s.Selector == nil {
		if requireSelector {
			errs = append(errs, field.Required(selPath, ""))
		}
	} else {
		errs = append(errs, validateLabelSelector(s.Selector, selPath)...)
		errs = append(errs, selectorMatchesTemplate(s.Selector, s.Template.Labels, path.Child("template", "metadata", "labels"))...)
	}
	tPath := path.Child("template")
	errs = append(errs, validatePodTemplateSpec(&s.Template, tPath)...)
	// Upstream sees the defaulted "Always" when the template names no policy.
	rp := s.Template.Spec.RestartPolicy
	if rp == "" {
		rp = corev1.RestartPolicyAlways
	}
	if rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever {
		errs = append(errs, field.NotSupported(tPath.Child("spec", "restartPolicy"), rp, []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
	}
	return errs
}

// validateJobUpdate: the selector, the pod template and completions are
// fixed once a Job exists (upstream relaxes this for suspended Jobs; we
// keep it simple except for the scheduling directives).
func validateJobUpdate(j, old *batchv1.Job) field.ErrorList {
	errs := validateJobSpec(&j.Spec, specPath, true)
	errs = append(errs, validateImmutable(j.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
	errs = append(errs, validateImmutable(j.Spec.CompletionMode, old.Spec.CompletionMode, specPath.Child("completionMode"))...)
	if !apiequality.Semantic.DeepEqual(j.Spec.Completions, old.Spec.Completions) {
		errs = append(errs, field.Invalid(specPath.Child("completions"), j.Spec.Completions, fieldImmutableErrorMsg))
	}
	if !apiequality.Semantic.DeepEqual(j.Spec.Template, old.Spec.Template) {
		errs = append(errs, field.Invalid(specPath.Child("template"), j.Spec.Template, fieldImmutableErrorMsg))
	}
	return errs
}

func validateJobStatus(j *batchv1.Job) field.ErrorList {
	st := field.NewPath("status")
	errs := validateNonnegative(int64(j.Status.Active), st.Child("active"))
	errs = append(errs, validateNonnegative(int64(j.Status.Succeeded), st.Child("succeeded"))...)
	errs = append(errs, validateNonnegative(int64(j.Status.Failed), st.Child("failed"))...)
	if r := j.Status.Ready; r != nil {
		errs = append(errs, validateNonnegative(int64(*r), st.Child("ready"))...)
	}
	return errs
}

// CronJobs.

var validTimeZoneCharacters = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}(/[A-Za-z\.\-_0-9+]{1,14})*$`)

func validateCronJob(cj *batchv1.CronJob) field.ErrorList {
	errs := validateMeta(cj, true, nameIsDNSSubdomain)
	if len(cj.Name) > maxCronJobNameLength {
		errs = append(errs, field.Invalid(metaPath.Child("name"), cj.Name, fmt.Sprintf("must be no more than %d characters", maxCronJobNameLength)))
	}
	return append(errs, validateCronJobSpecOf(cj, nil)...)
}

// validateCronJobSpecOf validates a CronJob's spec; old is the stored
// object on an update, nil on a create. As upstream, an object that
// already carries a TZ= prefix in its schedule may keep it, and a
// timeZone is checked only when it is new or changed.
func validateCronJobSpecOf(cj, old *batchv1.CronJob) field.ErrorList {
	s := &cj.Spec
	var errs field.ErrorList
	sp := specPath.Child("schedule")
	if s.Schedule == "" {
		errs = append(errs, field.Required(sp, ""))
	} else {
		allowTZ := old != nil && strings.Contains(old.Spec.Schedule, "TZ")
		errs = append(errs, validateSchedule(s.Schedule, allowTZ, s.TimeZone, sp)...)
	}
	if s.StartingDeadlineSeconds != nil {
		errs = append(errs, validateNonnegative(*s.StartingDeadlineSeconds, specPath.Child("startingDeadlineSeconds"))...)
	}
	switch s.ConcurrencyPolicy {
	case "", batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	default:
		errs = append(errs, field.NotSupported(specPath.Child("concurrencyPolicy"), s.ConcurrencyPolicy, []batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}))
	}
	if old == nil || !apiequality.Semantic.DeepEqual(old.Spec.TimeZone, s.TimeZone) {
		errs = append(errs, validateTimeZone(s.TimeZone, specPath.Child("timeZone"))...)
	}
	errs = append(errs, validateNonnegative32(s.SuccessfulJobsHistoryLimit, specPath.Child("successfulJobsHistoryLimit"))...)
	errs = append(errs, validateNonnegative32(s.FailedJobsHistoryLimit, specPath.Child("failedJobsHistoryLimit"))...)
	jt := specPath.Child("jobTemplate")
	errs = append(errs, validateTemplateMeta(&s.JobTemplate.ObjectMeta, jt.Child("metadata"))...)
	return append(errs, validateJobSpec(&s.JobTemplate.Spec, jt.Child("spec"), false)...)
}

// validateSchedule parses the schedule with the cron library the CronJob
// controller runs it with (upstream's choice, robfig/cron ParseStandard),
// so the API accepts exactly what the controller can schedule, @every
// included; a CRON_TZ=/TZ= prefix is refused in favour of spec.timeZone
// unless the stored object had one already.
func validateSchedule(schedule string, allowTZ bool, tz *string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if _, err := cron.ParseStandard(schedule); err != nil {
		errs = append(errs, field.Invalid(path, schedule, err.Error()))
	}
	switch hasTZ := strings.Contains(schedule, "TZ"); {
	case allowTZ && hasTZ && tz != nil:
		errs = append(errs, field.Invalid(path, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
	case !allowTZ && hasTZ:
		errs = append(errs, field.Invalid(path, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	}
	return errs
}

func validateTimeZone(tz *string, path *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	if *tz == "" {
		return field.ErrorList{field.Invalid(path, tz, "timeZone must be nil or non-empty string")}
	}
	if strings.EqualFold(*tz, "Local") {
		return field.ErrorList{field.Invalid(path, tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones")}
	}
	if !validTimeZoneCharacters.MatchString(*tz) {
		return field.ErrorList{field.Invalid(path, tz, fmt.Sprintf("unknown time zone %s", *tz))}
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		return field.ErrorList{field.Invalid(path, tz, err.Error())}
	}
	return nil
}
