package apiserver

import (
	"fmt"
	"net/http"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"

	"github.com/flotilla-io/flotilla/pkg/defaults"
)

// fieldManagers tracks managedFields (who set which field) for every kind
// and subresource, using the schemas generated from the Go types.
type fieldManagers struct {
	tc     managedfields.TypeConverter
	scheme *runtime.Scheme
	mu     sync.Mutex
	byKind map[string]*managedfields.FieldManager
}

func newFieldManagers(tc managedfields.TypeConverter, scheme *runtime.Scheme) *fieldManagers {
	return &fieldManagers{tc: tc, scheme: scheme, byKind: map[string]*managedfields.FieldManager{}}
}

type defaulter struct{}

func (defaulter) Default(obj runtime.Object) { defaults.Apply(obj) }

// get returns the field manager of a kind; nil when no schema is known.
func (f *fieldManagers) get(gvk schema.GroupVersionKind, subresource string) (*managedfields.FieldManager, error) {
	if f.tc == nil {
		return nil, nil
	}
	key := gvk.String() + "/" + subresource
	f.mu.Lock()
	defer f.mu.Unlock()
	if fm, ok := f.byKind[key]; ok {
		return fm, nil
	}
	fm, err := managedfields.NewDefaultFieldManager(f.tc, f.scheme, defaulter{}, f.scheme, gvk, gvk.GroupVersion(), subresource, nil)
	if err != nil {
		return nil, fmt.Errorf("field manager for %s: %w", gvk, err)
	}
	f.byKind[key] = fm
	return fm, nil
}

// managerName is the fieldManager of a request: the query parameter, else
// the client's program name from its User-Agent, as upstream does.
func managerName(r *http.Request) string {
	if m := r.URL.Query().Get("fieldManager"); m != "" {
		return m
	}
	ua := r.Header.Get("User-Agent")
	if i := strings.Index(ua, "/"); i >= 0 {
		ua = ua[:i]
	}
	if ua == "" {
		return "unknown"
	}
	return ua
}

// trackUpdate records the fields changed from live to obj.
func (s *Server) trackUpdate(r *http.Request, gvk schema.GroupVersionKind, subresource string, live, obj runtime.Object) (runtime.Object, error) {
	fm, err := s.fields.get(gvk, subresource)
	if err != nil || fm == nil {
		return obj, err
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	live.GetObjectKind().SetGroupVersionKind(gvk)
	out := fm.UpdateNoErrors(live, obj, managerName(r))
	return out, nil
}
