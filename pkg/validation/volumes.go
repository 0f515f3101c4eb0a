package validation

import (
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateVolumes checks spec.volumes and returns the set of valid names
// for the volumeMounts check.
func validateVolumes(vols []corev1.Volume, path *field.Path) (sets.Set[string], field.ErrorList) {
	var errs field.ErrorList
	names := sets.New[string]()
	for i := range vols {
		v := &vols[i]
		idx := path.Index(i)
		namePath := idx.Child("name")
		switch {
		case v.Name == "":
			errs = append(errs, field.Required(namePath, ""))
		case names.Has(v.Name):
			errs = append(errs, field.Duplicate(namePath, v.Name))
		default:
			if msgs := utilvalidation.IsDNS1123Label(v.Name); len(msgs) > 0 {
				errs = append(errs, invalidAll(namePath, v.Name, msgs)...)
			} else {
				names.Insert(v.Name)
			}
		}
		errs = append(errs, validateVolumeSource(&v.VolumeSource, idx)...)
	}
	return names, errs
}

// setSources lists the JSON names of the non-nil pointer fields of a
// volume source struct: each is one volume type.
func setSources(src any) []string {
	v := reflect.ValueOf(src).Elem()
	t := v.Type()
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() != reflect.Pointer || f.IsNil() {
			continue
		}
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out = append(out, name)
	}
	return out
}

func validateVolumeSource(src *corev1.VolumeSource, path *field.Path) field.ErrorList {
	set := setSources(src)
	if len(set) == 0 {
		return field.ErrorList{field.Required(path, "must specify a volume type")}
	}
	var errs field.ErrorList
	if len(set) > 1 {
		errs = append(errs, field.Forbidden(path.Child(set[1]), "may not specify more than 1 volume type"))
	}
	switch {
	case src.HostPath != nil:
		p := path.Child("hostPath")
		if src.HostPath.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		}
		if t := src.HostPath.Type; t != nil && *t != "" {
			valid := []corev1.HostPathType{corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory, corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev}
			if !contains(valid, *t) {
				errs = append(errs, field.NotSupported(p.Child("type"), *t, valid))
			}
		}
	case src.EmptyDir != nil:
		if m := src.EmptyDir.Medium; m != "" && m != corev1.StorageMediumMemory && m != corev1.StorageMediumHugePages && !strings.HasPrefix(string(m), string(corev1.StorageMediumHugePagesPrefix)) {
			errs = append(errs, field.NotSupported(path.Child("emptyDir", "medium"), m, []corev1.StorageMedium{corev1.StorageMediumDefault, corev1.StorageMediumMemory, corev1.StorageMediumHugePages}))
		}
		if s := src.EmptyDir.SizeLimit; s != nil && s.Sign() < 0 {
			errs = append(errs, field.Invalid(path.Child("emptyDir", "sizeLimit"), s.String(), isNegativeErrorMsg))
		}
	case src.ConfigMap != nil:
		p := path.Child("configMap")
		if src.ConfigMap.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		errs = append(errs, validateKeyToPaths(src.ConfigMap.Items, p.Child("items"))...)
		errs = append(errs, validateMode(src.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
	case src.Secret != nil:
		p := path.Child("secret")
		if src.Secret.SecretName == "" {
			errs = append(errs, field.Required(p.Child("secretName"), ""))
		}
		errs = append(errs, validateKeyToPaths(src.Secret.Items, p.Child("items"))...)
		errs = append(errs, validateMode(src.Secret.DefaultMode, p.Child("defaultMode"))...)
	case src.PersistentVolumeClaim != nil:
		if src.PersistentVolumeClaim.ClaimName == "" {
			errs = append(errs, field.Required(path.Child("persistentVolumeClaim", "claimName"), ""))
		}
	case src.NFS != nil:
		p := path.Child("nfs")
		if src.NFS.Server == "" {
			errs = append(errs, field.Required(p.Child("server"), ""))
		}
		if src.NFS.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		}
	case src.DownwardAPI != nil:
		p := path.Child("downwardAPI")
		for i, item := range src.DownwardAPI.Items {
			errs = append(errs, validateDownwardItem(item, p.Child("items").Index(i))...)
		}
		errs = append(errs, validateMode(src.DownwardAPI.DefaultMode, p.Child("defaultMode"))...)
	case src.Projected != nil:
		errs = append(errs, validateProjected(src.Projected, path.Child("projected"))...)
	}
	return errs
}

func validateDownwardItem(item corev1.DownwardAPIVolumeFile, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if item.Path == "" {
		errs = append(errs, field.Required(path.Child("path"), ""))
	} else {
		errs = append(errs, validateLocalDescendingPath(item.Path, path.Child("path"))...)
	}
	if (item.FieldRef == nil) == (item.ResourceFieldRef == nil) {
		errs = append(errs, field.Required(path, "one and only one of fieldRef and resourceFieldRef is required"))
	}
	errs = append(errs, validateMode(item.Mode, path.Child("mode"))...)
	return errs
}

func validateProjected(p *corev1.ProjectedVolumeSource, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, s := range p.Sources {
		idx := path.Child("sources").Index(i)
		if n := len(setSources(&s)); n == 0 {
			errs = append(errs, field.Required(idx, "must specify exactly 1 volume type"))
		} else if n > 1 {
			errs = append(errs, field.Forbidden(idx, "may not specify more than 1 volume type per source"))
		}
		if s.ConfigMap != nil {
			errs = append(errs, validateKeyToPaths(s.ConfigMap.Items, idx.Child("configMap", "items"))...)
		}
		if s.Secret != nil {
			errs = append(errs, validateKeyToPaths(s.Secret.Items, idx.Child("secret", "items"))...)
		}
		if s.ServiceAccountToken != nil {
			t := idx.Child("serviceAccountToken")
			if s.ServiceAccountToken.Path == "" {
				errs = append(errs, field.Required(t.Child("path"), ""))
			}
			if e := s.ServiceAccountToken.ExpirationSeconds; e != nil && *e < 600 {
				errs = append(errs, field.Invalid(t.Child("expirationSeconds"), *e, "may not specify a duration less than 10 minutes"))
			}
		}
		if s.DownwardAPI != nil {
			for j, item := range s.DownwardAPI.Items {
				errs = append(errs, validateDownwardItem(item, idx.Child("downwardAPI", "items").Index(j))...)
			}
		}
	}
	errs = append(errs, validateMode(p.DefaultMode, path.Child("defaultMode"))...)
	return errs
}

func validateKeyToPaths(items []corev1.KeyToPath, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, kp := range items {
		idx := path.Index(i)
		if kp.Key == "" {
			errs = append(errs, field.Required(idx.Child("key"), ""))
		}
		if kp.Path == "" {
			errs = append(errs, field.Required(idx.Child("path"), ""))
		} else {
			errs = append(errs, validateLocalDescendingPath(kp.Path, idx.Child("path"))...)
		}
		errs = append(errs, validateMode(kp.Mode, idx.Child("mode"))...)
	}
	return errs
}

// validateMode checks a file mode: only permission bits (0-0777).
func validateMode(m *int32, path *field.Path) field.ErrorList {
	if m != nil && (*m > 0777 || *m < 0) {
		return field.ErrorList{field.Invalid(path, *m, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}
