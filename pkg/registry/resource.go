package registry

import (
	"context"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flotilla-io/flotilla/pkg/storage"
)

// Standard verb sets.
var (
	VerbsAll      = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	VerbsSubGet   = []string{"get", "patch", "update"}
	VerbsCreate   = []string{"create"}
	VerbsGet      = []string{"get"}
	VerbsConnect  = []string{"create", "get"}
	categoriesAll = []string{"all"}
)

// Subresource is a named sub-path of a resource, e.g. pods/status.
type Subresource struct {
	Name  string
	Kind  schema.GroupVersionKind // what it takes and returns
	Verbs []string
	// Prepare, on a subresource that reads and writes the whole object
	// (status, a CertificateSigningRequest's approval), carries into
	// stored (a copy of the current object) what a write through the
	// subresource may change from sent; the server keeps managedFields.
	// nil on status = the generic rule: status, labels and annotations.
	Prepare func(sent, stored runtime.Object)
}

// Resource is one served group/version/resource.
type Resource struct {
	Group, Version   string
	Plural, Singular string
	Kind, ListKind   string
	ShortNames       []string
	Categories       []string
	Namespaced       bool
	Subresources     []Subresource

	New     func() runtime.Object
	NewList func() runtime.Object

	// Generation: metadata.generation counts spec changes.
	Generation bool
	// KeepStatusOnCreate lets a creator set status (a node agent
	// registering its Node); otherwise status starts empty.
	KeepStatusOnCreate bool
	// CreateOnUpdate: a PUT of a missing object creates it (upstream's
	// AllowCreateOnUpdate). RequireResourceVersion: an update must name
	// the resourceVersion it replaces (AllowUnconditionalUpdate false).
	CreateOnUpdate, RequireResourceVersion bool

	// Store keeps the objects. Resources served in several versions share
	// one store and convert with ToStorage/FromStorage (nil = same type).
	Store       *storage.Store
	ToStorage   func(runtime.Object) (runtime.Object, error)
	FromStorage func(runtime.Object) (runtime.Object, error)

	// FieldSet lists the fields a field selector may use. nil = name and
	// namespace only.
	FieldSet func(obj runtime.Object) fields.Set
	// FieldLabels, when set, are the field labels this version's clients
	// use, mapped to those of FieldSet (which works on the stored type):
	// events.k8s.io's regarding.kind is core's involvedObject.kind.
	FieldLabels map[string]string

	// PrepareForCreate and PrepareForUpdate adjust an object beyond what
	// the generic spec/status handling does (e.g. a new pod is Pending).
	// PrepareForUpdate runs on writes of the object itself, not on those
	// through status or another subresource.
	PrepareForCreate func(obj runtime.Object)
	PrepareForUpdate func(obj, old runtime.Object)
	// PrepareFromRequest fills in a new object from the request itself
	// (a CertificateSigningRequest records its requester), as upstream
	// strategies read the request's context; it runs after
	// PrepareForCreate. What other objects say is the admission chain's
	// business (pkg/admission).
	PrepareFromRequest func(ctx context.Context, obj runtime.Object) error
	// AuthorizeWrite refuses a create or an update of the object itself
	// that the caller may make in general but not with this content (an
	// RBAC role holding rules its writer lacks); it runs after
	// validation. old is nil on create.
	AuthorizeWrite func(ctx context.Context, obj, old runtime.Object) error
	// PrepareForDelete adjusts an object entering graceful deletion.
	PrepareForDelete func(obj runtime.Object)
	// Allocate reserves cluster-wide values an object needs (a Service's
	// IP and node ports) before it is written; old is nil on create. undo
	// gives back what it reserved when the write fails.
	Allocate func(ctx context.Context, obj, old runtime.Object) (undo func(), err error)
	// Release gives back what Allocate reserved once the object is gone.
	Release func(ctx context.Context, obj runtime.Object)
	// OrphanByDefault: a delete that names no propagation policy orphans
	// the dependents (upstream's default for v1 ReplicationControllers
	// and batch/v1 Jobs); kubectl always names one.
	OrphanByDefault bool
	// PendingFinalizers reports kind-specific finalizers (a namespace's
	// spec.finalizers) that keep a deleted object in storage.
	PendingFinalizers func(obj runtime.Object) bool
}

// GVK is the kind served.
func (r *Resource) GVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
}

// GVR is the resource served.
func (r *Resource) GVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: r.Group, Version: r.Version, Resource: r.Plural}
}

// GroupVersion is the API group version served.
func (r *Resource) GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: r.Group, Version: r.Version}
}

// HasSubresource reports whether name is a subresource of r.
func (r *Resource) HasSubresource(name string) bool {
	return r.Subresource(name) != nil
}

// Subresource returns the named subresource or nil.
func (r *Resource) Subresource(name string) *Subresource {
	for i := range r.Subresources {
		if r.Subresources[i].Name == name {
			return &r.Subresources[i]
		}
	}
	return nil
}

// ServesObject reports whether the named subresource reads and writes the
// object itself, as status does, rather than a kind of its own.
func (r *Resource) ServesObject(name string) bool {
	if name == "status" {
		return r.HasSubresource(name)
	}
	sub := r.Subresource(name)
	return sub != nil && sub.Prepare != nil
}

// Fields returns the selectable fields of obj.
func (r *Resource) Fields(obj runtime.Object) fields.Set {
	if r.FieldSet != nil {
		return r.FieldSet(obj)
	}
	return metaFields(obj)
}

// Convert obj (served type) into the stored type.
func (r *Resource) Encode(obj runtime.Object) (runtime.Object, error) {
	if r.ToStorage == nil {
		return obj, nil
	}
	return r.ToStorage(obj)
}

// Decode a stored object into the served type.
func (r *Resource) Decode(obj runtime.Object) (runtime.Object, error) {
	if r.FromStorage == nil {
		return obj, nil
	}
	out, err := r.FromStorage(obj)
	if err != nil {
		return nil, err
	}
	out.GetObjectKind().SetGroupVersionKind(r.GVK())
	return out, nil
}
