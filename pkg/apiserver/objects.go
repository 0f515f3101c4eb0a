package apiserver

import (
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Every served kind is a struct with ObjectMeta and, for most, Spec and
// Status fields; these helpers reach them without a type switch per kind.

func structField(obj runtime.Object, name string) (reflect.Value, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return reflect.Value{}, false
	}
	v = v.Elem()
	if v.Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	f := v.FieldByName(name)
	return f, f.IsValid() && f.CanSet()
}

// copyField sets dst.name = src.name when both have it.
func copyField(dst, src runtime.Object, name string) {
	d, ok1 := structField(dst, name)
	s, ok2 := structField(src, name)
	if ok1 && ok2 && d.Type() == s.Type() {
		d.Set(s)
	}
}

// specChanged reports whether the spec (or, for kinds without one, any
// content outside metadata and status) differs.
func specChanged(obj, old runtime.Object) bool {
	a, ok1 := structField(obj, "Spec")
	b, ok2 := structField(old, "Spec")
	if ok1 && ok2 {
		return !equality.Semantic.DeepEqual(a.Interface(), b.Interface())
	}
	return false
}

func hasField(obj runtime.Object, name string) bool {
	_, ok := structField(obj, name)
	return ok
}

func accessor(obj runtime.Object) metav1.Object {
	acc, err := meta.Accessor(obj)
	if err != nil {
		panic(err) // every served kind has ObjectMeta
	}
	return acc
}
