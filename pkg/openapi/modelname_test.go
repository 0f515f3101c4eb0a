package openapi

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type namedSpec struct {
	A string `json:"a"`
}

func (namedSpec) OpenAPIModelName() string { return "io.example.v1.Spec" }

type namedKind struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              namedSpec `json:"spec"`
}

func (namedKind) OpenAPIModelName() string { return "io.example.v1.Kind" }

// embedsMeta has no name of its own: ObjectMeta's promoted method must
// not make it ObjectMeta.
type embedsMeta struct {
	metav1.ObjectMeta `json:"metadata,omitempty"`
}

// Types defined outside k8s.io/api (settings.k8s.io's PodPreset) keep
// the definition names they give themselves.
func TestOwnModelNames(t *testing.T) {
	t.Parallel()
	for typ, want := range map[reflect.Type]string{
		reflect.TypeFor[namedKind]():         "io.example.v1.Kind",
		reflect.TypeFor[namedSpec]():         "io.example.v1.Spec",
		reflect.TypeFor[embedsMeta]():        "com.github.flotilla-io.flotilla.pkg.openapi.embedsMeta",
		reflect.TypeFor[metav1.ObjectMeta](): "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
	} {
		if got := DefinitionName(typ); got != want {
			t.Errorf("DefinitionName(%v) = %q, want %q", typ, got, want)
		}
	}
	g := newGenerator()
	if name := g.define(reflect.TypeFor[namedKind]()); name != "io.example.v1.Kind" {
		t.Fatalf("define = %q", name)
	}
	spec := g.defs["io.example.v1.Kind"].Properties["spec"]
	if ref := spec.Ref.String(); ref != refPrefix+"io.example.v1.Spec" && (len(spec.AllOf) == 0 || spec.AllOf[0].Ref.String() != refPrefix+"io.example.v1.Spec") {
		t.Errorf("spec property does not refer to io.example.v1.Spec: %+v", spec)
	}
}
