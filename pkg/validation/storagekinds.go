package validation

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The CSI kinds of storage.k8s.io and VolumeAttachments, as upstream's
// storage validation.

// Upstream's limits.
const (
	maxAttachmentMetadataSize = 256 * (1 << 10)
	maxVolumeErrorMessage     = 1024
	maxCSINodeID              = 256 // the API server allows the longer node IDs
	maxCSIDriverName          = 63
)

var (
	fsGroupPolicies = []string{string(storagev1.FileFSGroupPolicy), string(storagev1.NoneFSGroupPolicy), string(storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy)}
	lifecycleModes  = []string{string(storagev1.VolumeLifecyclePersistent), string(storagev1.VolumeLifecycleEphemeral)}
)

// validateCSIDriverName is the core rule for a CSI driver's name where
// one is referenced (a CSINode driver, a VolumeAttachment's attacher).
func validateCSIDriverName(name string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(path, ""))
	}
	if len(name) > maxCSIDriverName {
		errs = append(errs, field.TooLong(path, "", maxCSIDriverName))
	}
	return append(errs, invalidAll(path, name, utilvalidation.IsDNS1123Subdomain(strings.ToLower(name)))...)
}

func validateCSIDriver(d *storagev1.CSIDriver) field.ErrorList {
	errs := validateMeta(d, false, nameIsDNSSubdomain)
	return append(errs, validateCSIDriverSpec(&d.Spec)...)
}

func validateCSIDriverSpec(s *storagev1.CSIDriverSpec) field.ErrorList {
	var errs field.ErrorList
	path := field.NewPath("spec")
	required := func(set bool, name string) {
		if !set {
			errs = append(errs, field.Required(path.Child(name), ""))
		}
	}
	// Upstream reports attachRequired as "attachedRequired".
	required(s.AttachRequired != nil, "attachedRequired")
	required(s.PodInfoOnMount != nil, "podInfoOnMount")
	required(s.StorageCapacity != nil, "storageCapacity")
	if p := s.FSGroupPolicy; p != nil && !contains(fsGroupPolicies, string(*p)) {
		errs = append(errs, field.NotSupported(path.Child("fsGroupPolicy"), p, fsGroupPolicies))
	}
	audiences := map[string]bool{}
	for i, t := range s.TokenRequests {
		idx := path.Child("tokenRequests").Index(i)
		if audiences[t.Audience] {
			errs = append(errs, field.Duplicate(idx.Child("audience"), t.Audience))
			continue
		}
		audiences[t.Audience] = true
		if e := t.ExpirationSeconds; e != nil {
			if *e < 600 {
				errs = append(errs, field.Invalid(idx.Child("expirationSeconds"), *e, "may not specify a duration less than 10 minutes"))
			}
			if *e > 1<<32 {
				errs = append(errs, field.Invalid(idx.Child("expirationSeconds"), *e, "may not specify a duration larger than 2^32 seconds"))
			}
		}
	}
	for _, m := range s.VolumeLifecycleModes {
		if !contains(lifecycleModes, string(m)) {
			errs = append(errs, field.NotSupported(path.Child("volumeLifecycleModes"), m, lifecycleModes))
		}
	}
	required(s.SELinuxMount != nil, "seLinuxMount")
	return errs
}

func validateCSIDriverUpdate(d, old *storagev1.CSIDriver) field.ErrorList {
	errs := validateCSIDriverSpec(&d.Spec)
	errs = append(errs, validateImmutable(d.Spec.AttachRequired, old.Spec.AttachRequired, field.NewPath("spec", "attachedRequired"))...)
	return append(errs, validateImmutable(d.Spec.VolumeLifecycleModes, old.Spec.VolumeLifecycleModes, field.NewPath("spec", "volumeLifecycleModes"))...)
}

func validateCSINode(n *storagev1.CSINode) field.ErrorList {
	errs := validateMeta(n, false, apivalidation.NameIsDNSSubdomain)
	path := field.NewPath("spec", "drivers")
	names := sets.New[string]()
	for i, d := range n.Spec.Drivers {
		idx := path.Index(i)
		errs = append(errs, validateCSIDriverName(d.Name, idx.Child("name"))...)
		switch {
		case d.NodeID == "":
			errs = append(errs, field.Required(idx.Child("nodeID"), d.NodeID))
		case len(d.NodeID) > maxCSINodeID:
			errs = append(errs, field.Invalid(idx.Child("nodeID"), d.NodeID, "must be 256 characters or less"))
		}
		if a := d.Allocatable; a != nil && a.Count != nil {
			errs = append(errs, validateNonnegative(int64(*a.Count), idx.Child("allocatable", "count"))...)
		}
		if names.Has(d.Name) {
			errs = append(errs, field.Duplicate(idx.Child("name"), d.Name))
		}
		names.Insert(d.Name)
		keys := sets.New[string]()
		for _, k := range d.TopologyKeys {
			if k == "" {
				errs = append(errs, field.Required(idx, k))
			}
			if keys.Has(k) {
				errs = append(errs, field.Duplicate(idx, k))
			}
			keys.Insert(k)
			errs = append(errs, metavalidation.ValidateLabelName(k, idx)...)
		}
	}
	return errs
}

// validateCSINodeUpdate: a driver, once registered, does not change.
func validateCSINodeUpdate(n, old *storagev1.CSINode) field.ErrorList {
	errs := validateCSINode(n)
	for _, was := range old.Spec.Drivers {
		for _, d := range n.Spec.Drivers {
			if d.Name == was.Name && !apiequality.Semantic.DeepEqual(d, was) {
				errs = append(errs, field.Invalid(field.NewPath("CSINodeDriver"), d, fieldImmutableErrorMsg))
			}
		}
	}
	return errs
}

func validateCSIStorageCapacity(c *storagev1.CSIStorageCapacity, lenientSelector bool) field.ErrorList {
	errs := validateMeta(c, true, nameIsDNSSubdomain)
	opts := metavalidation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: lenientSelector}
	errs = append(errs, metavalidation.ValidateLabelSelector(c.NodeTopology, opts, field.NewPath("nodeTopology"))...)
	errs = append(errs, invalidAll(field.NewPath("storageClassName"), c.StorageClassName, nameIsDNSSubdomain(c.StorageClassName, false))...)
	if c.Capacity != nil {
		errs = append(errs, validateNonnegativeQuantity(c.Capacity, field.NewPath("capacity"))...)
	}
	return errs
}

func validateCSIStorageCapacityUpdate(c, old *storagev1.CSIStorageCapacity) field.ErrorList {
	// A selector stored with values that are invalid today stays valid.
	lenient := len(metavalidation.ValidateLabelSelector(old.NodeTopology, metavalidation.LabelSelectorValidationOptions{}, nil)) > 0
	errs := validateCSIStorageCapacity(c, lenient)
	if !apiequality.Semantic.DeepEqual(c.NodeTopology, old.NodeTopology) {
		errs = append(errs, field.Invalid(field.NewPath("nodeTopology"), c.NodeTopology, fieldImmutableErrorMsg))
	}
	if c.StorageClassName != old.StorageClassName {
		errs = append(errs, field.Invalid(field.NewPath("storageClassName"), c.StorageClassName, fieldImmutableErrorMsg))
	}
	return errs
}

func validateVolumeAttachment(va *storagev1.VolumeAttachment) field.ErrorList {
	errs := validateMeta(va, false, nameIsDNSSubdomain)
	spec := field.NewPath("spec")
	if va.Spec.Attacher == "" {
		errs = append(errs, field.Required(spec.Child("attacher"), ""))
	}
	src, srcPath := &va.Spec.Source, spec.Child("source")
	switch {
	case src.InlineVolumeSpec == nil && src.PersistentVolumeName == nil:
		errs = append(errs, field.Required(srcPath, "must specify exactly one of inlineVolumeSpec and persistentVolumeName"))
	case src.InlineVolumeSpec != nil && src.PersistentVolumeName != nil:
		errs = append(errs, field.Forbidden(srcPath, "must specify exactly one of inlineVolumeSpec and persistentVolumeName"))
	case src.PersistentVolumeName != nil:
		if *src.PersistentVolumeName == "" {
			errs = append(errs, field.Required(srcPath.Child("persistentVolumeName"), "must specify non empty persistentVolumeName"))
		}
	default:
		errs = append(errs, validateInlineVolumeSpec(src.InlineVolumeSpec, srcPath.Child("inlineVolumeSpec"))...)
	}
	errs = append(errs, invalidAll(spec.Child("nodeName"), va.Spec.NodeName, nameIsDNSSubdomain(va.Spec.NodeName, false))...)
	status := field.NewPath("status")
	size := 0
	for k, v := range va.Status.AttachmentMetadata {
		size += len(k) + len(v)
	}
	if size > maxAttachmentMetadataSize {
		errs = append(errs, field.TooLong(status.Child("attachmentMetadata"), "", maxAttachmentMetadataSize))
	}
	for _, e := range []struct {
		name string
		err  *storagev1.VolumeError
	}{{"attachError", va.Status.AttachError}, {"detachError", va.Status.DetachError}} {
		if e.err != nil && len(e.err.Message) > maxVolumeErrorMessage {
			// Upstream reports the metadata limit here.
			errs = append(errs, field.TooLong(status.Child(e.name, "message"), "", maxAttachmentMetadataSize))
		}
	}
	// The v1 rules: the attacher is a CSI driver name, the volume a PV name.
	errs = append(errs, validateCSIDriverName(va.Spec.Attacher, field.NewPath("spec.attacher"))...)
	if n := src.PersistentVolumeName; n != nil {
		errs = append(errs, invalidAll(field.NewPath("spec.source.persistentVolumeName"), *n, nameIsDNSSubdomain(*n, false))...)
	}
	return errs
}

// validateInlineVolumeSpec applies the PersistentVolume spec rules at
// path.
func validateInlineVolumeSpec(s *corev1.PersistentVolumeSpec, path *field.Path) field.ErrorList {
	errs := validatePVSpec(&corev1.PersistentVolume{Spec: *s})
	for _, e := range errs {
		if rest, ok := strings.CutPrefix(e.Field, specPath.String()); ok {
			e.Field = path.String() + rest
		}
	}
	return errs
}

func validateVolumeAttachmentUpdate(va, old *storagev1.VolumeAttachment) field.ErrorList {
	errs := validateVolumeAttachment(va)
	if !apiequality.Semantic.DeepEqual(va.Spec, old.Spec) {
		errs = append(errs, field.Invalid(field.NewPath("spec"), va.Spec, fieldImmutableErrorMsg))
	}
	return errs
}

func validateNonnegativeQuantity(q *resource.Quantity, path *field.Path) field.ErrorList {
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(path, q.String(), isNegativeErrorMsg)}
	}
	return nil
}
