package apiserver

import (
	"net/http"
	"net/url"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flotilla-io/flotilla/pkg/printers"
	"github.com/flotilla-io/flotilla/pkg/registry"
)

var emptyGVK = schema.GroupVersionKind{}

func ptrValues(r *http.Request) *url.Values {
	q := r.URL.Query()
	return &q
}

// table renders one object as a Table.
func (s *Server) table(r *http.Request, res *registry.Resource, obj runtime.Object, _ string) (*metav1.Table, error) {
	return s.tableOf(r, res, []runtime.Object{obj}, metav1.ListMeta{ResourceVersion: accessor(obj).GetResourceVersion()})
}

// tableOf renders objects as a Table with the kind's upstream columns;
// each row carries the object as includeObject asks (default: metadata).
func (s *Server) tableOf(r *http.Request, res *registry.Resource, items []runtime.Object, lm metav1.ListMeta) (*metav1.Table, error) {
	list := res.NewList()
	if err := meta.SetList(list, items); err != nil {
		return nil, err
	}
	t := &metav1.Table{ListMeta: lm}
	t.Kind, t.APIVersion = "Table", "meta.k8s.io/v1"
	now := time.Now()
	cols, ok := printers.Columns(list)
	var err error
	if ok {
		t.ColumnDefinitions = cols
		t.Rows, err = printers.Rows(list, now)
	} else {
		t.ColumnDefinitions = printers.DefaultColumns()
		t.Rows, err = printers.DefaultRows(list, now)
	}
	if err != nil {
		return nil, err
	}
	if t.Rows == nil {
		t.Rows = []metav1.TableRow{}
	}
	include := r.URL.Query().Get("includeObject")
	for i := range t.Rows {
		if i >= len(items) {
			break
		}
		switch include {
		case "None":
			t.Rows[i].Object = runtime.RawExtension{}
		case "Object":
			items[i].GetObjectKind().SetGroupVersionKind(res.GVK())
			t.Rows[i].Object = runtime.RawExtension{Object: items[i]}
		default:
			t.Rows[i].Object = runtime.RawExtension{Object: partialMetadata(items[i])}
		}
	}
	return t, nil
}
