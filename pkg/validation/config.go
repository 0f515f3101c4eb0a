package validation

import (
	"encoding/json"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxConfigSize bounds the data of a ConfigMap or Secret (1 MiB), as etcd
// entries must stay small.
const maxConfigSize = 1 * 1024 * 1024

const immutableSetMsg = "field is immutable when `immutable` is set"

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	errs := validateMeta(cm, true, nameIsDNSSubdomain)
	return append(errs, validateConfigMapData(cm)...)
}

func validateConfigMapData(cm *corev1.ConfigMap) field.ErrorList {
	var errs field.ErrorList
	size := 0
	for k, v := range cm.Data {
		errs = append(errs, invalidAll(field.NewPath("data").Key(k), k, utilvalidation.IsConfigMapKey(k))...)
		size += len(v)
	}
	for k, v := range cm.BinaryData {
		p := field.NewPath("binaryData").Key(k)
		errs = append(errs, invalidAll(p, k, utilvalidation.IsConfigMapKey(k))...)
		if _, dup := cm.Data[k]; dup {
			errs = append(errs, field.Invalid(p, k, "duplicate of key present in data"))
		}
		size += len(v)
	}
	if size > maxConfigSize {
		errs = append(errs, field.TooLong(field.NewPath(""), "", maxConfigSize))
	}
	return errs
}

func validateConfigMapUpdate(cm, old *corev1.ConfigMap) field.ErrorList {
	var errs field.ErrorList
	if deref(old.Immutable) {
		if !deref(cm.Immutable) {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableSetMsg))
		}
		if !reflect.DeepEqual(cm.Data, old.Data) && len(cm.Data)+len(old.Data) > 0 {
			errs = append(errs, field.Forbidden(field.NewPath("data"), immutableSetMsg))
		}
		if !reflect.DeepEqual(cm.BinaryData, old.BinaryData) && len(cm.BinaryData)+len(old.BinaryData) > 0 {
			errs = append(errs, field.Forbidden(field.NewPath("binaryData"), immutableSetMsg))
		}
	}
	return append(errs, validateConfigMapData(cm)...)
}

func validateSecret(s *corev1.Secret) field.ErrorList {
	errs := validateMeta(s, true, nameIsDNSSubdomain)
	return append(errs, validateSecretData(s)...)
}

// secretHas reports whether key is present in data or in the not yet
// merged stringData.
func secretHas(s *corev1.Secret, key string) bool {
	if len(s.Data[key]) > 0 {
		return true
	}
	return s.StringData[key] != ""
}

func validateSecretData(s *corev1.Secret) field.ErrorList {
	var errs field.ErrorList
	dataPath := field.NewPath("data")
	size := 0
	for k, v := range s.Data {
		errs = append(errs, invalidAll(dataPath.Key(k), k, utilvalidation.IsConfigMapKey(k))...)
		size += len(v)
	}
	for k, v := range s.StringData {
		errs = append(errs, invalidAll(field.NewPath("stringData").Key(k), k, utilvalidation.IsConfigMapKey(k))...)
		if _, dup := s.Data[k]; !dup {
			size += len(v)
		}
	}
	if size > maxConfigSize {
		errs = append(errs, field.TooLong(dataPath, "", maxConfigSize))
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(metaPath.Child("annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		errs = append(errs, validateDockerConfig(s, corev1.DockerConfigKey, dataPath)...)
	case corev1.SecretTypeDockerConfigJson:
		errs = append(errs, validateDockerConfig(s, corev1.DockerConfigJsonKey, dataPath)...)
	case corev1.SecretTypeBasicAuth:
		if !secretHas(s, corev1.BasicAuthUsernameKey) && !secretHas(s, corev1.BasicAuthPasswordKey) {
			errs = append(errs, field.Required(dataPath.Key(corev1.BasicAuthUsernameKey), ""))
			errs = append(errs, field.Required(dataPath.Key(corev1.BasicAuthPasswordKey), ""))
		}
	case corev1.SecretTypeSSHAuth:
		if !secretHas(s, corev1.SSHAuthPrivateKey) {
			errs = append(errs, field.Required(dataPath.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		if !secretHas(s, corev1.TLSCertKey) {
			errs = append(errs, field.Required(dataPath.Key(corev1.TLSCertKey), ""))
		}
		if !secretHas(s, corev1.TLSPrivateKeyKey) {
			errs = append(errs, field.Required(dataPath.Key(corev1.TLSPrivateKeyKey), ""))
		}
	}
	return errs
}

func validateDockerConfig(s *corev1.Secret, key string, dataPath *field.Path) field.ErrorList {
	data, ok := s.Data[key]
	if !ok {
		if str, ok := s.StringData[key]; ok {
			data = []byte(str)
		} else {
			return field.ErrorList{field.Required(dataPath.Key(key), "")}
		}
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		return field.ErrorList{field.Invalid(dataPath.Key(key), "<secret contents redacted>", err.Error())}
	}
	return nil
}

func validateSecretUpdate(s, old *corev1.Secret) field.ErrorList {
	errs := validateImmutable(s.Type, old.Type, field.NewPath("type"))
	if deref(old.Immutable) {
		if !deref(s.Immutable) {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableSetMsg))
		}
		if (!reflect.DeepEqual(s.Data, old.Data) && len(s.Data)+len(old.Data) > 0) || len(s.StringData) > 0 {
			errs = append(errs, field.Forbidden(field.NewPath("data"), immutableSetMsg))
		}
	}
	return append(errs, validateSecretData(s)...)
}
