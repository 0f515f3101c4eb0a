package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata/metadatalister"
	"k8s.io/client-go/tools/cache"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/flotilla-io/flotilla/pkg/metrics/storage"
)

type fakeUsage struct{}

func (fakeUsage) Node(name string) (storage.Usage, bool) {
	return storage.Usage{Timestamp: time.Unix(1700000000, 0), Window: 15 * time.Second,
		Resources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("1Gi")}}, name == "n1"
}

func (fakeUsage) Pod(ref types.NamespacedName) (storage.PodUsage, bool) {
	return storage.PodUsage{Timestamp: time.Unix(1700000000, 0), Window: 15 * time.Second, Containers: []metricsv1beta1.ContainerMetrics{
		{Name: "a", Usage: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("10Mi")}},
		{Name: "b", Usage: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("5Mi")}},
	}}, ref.Name == "p1"
}

func testHandler(t *testing.T, synced bool) *Handler {
	t.Helper()
	nodes := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	pods := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	_ = nodes.Add(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a"}}})
	for _, name := range []string{"p1", "p2"} {
		_ = pods.Add(&metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "x"}}})
	}
	c := &Caches{Nodes: corev1listers.NewNodeLister(nodes), Pods: metadatalister.New(pods, corev1.SchemeGroupVersion.WithResource("pods"))}
	return New(fakeUsage{}, func() *Caches {
		if !synced {
			return nil
		}
		return c
	}, slog.New(slog.DiscardHandler))
}

func serve(h http.Handler, method, path, accept string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandler(t *testing.T) {
	t.Parallel()
	h := testHandler(t, true)
	for _, tc := range []struct {
		method, path, accept string
		code                 int
	}{
		{"GET", Prefix + "nodes", "", 200},
		{"GET", Prefix + "nodes/n1", "", 200},
		{"GET", Prefix + "namespaces/ns/pods", "", 200},
		{"GET", Prefix + "pods", "", 200},
		{"GET", Prefix + "pods/p1", "", 404},
		{"GET", Prefix + "namespaces/ns/pods/p1/extra", "", 404},
		{"GET", Prefix + "foos", "", 404},
		{"POST", Prefix + "namespaces/ns/pods", "", 405},
		{"GET", Prefix + "nodes?watch=true", "", 405},
		{"GET", Prefix + "nodes", "application/yaml", 406},
		{"GET", Prefix + "nodes?labelSelector=a+in+((", "", 400},
	} {
		if w := serve(h, tc.method, tc.path, tc.accept); w.Code != tc.code {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, w.Code, w.Body, tc.code)
		}
	}
	if w := serve(testHandler(t, false), "GET", Prefix+"nodes", ""); w.Code != 503 {
		t.Errorf("before sync: %d, want 503", w.Code)
	}
}

func TestHandlerEncodings(t *testing.T) {
	t.Parallel()
	h := testHandler(t, true)
	// JSON as metrics-server: kind and apiVersion on the list.
	w := serve(h, "GET", Prefix+"namespaces/ns/pods", "application/json")
	var list metricsv1beta1.PodMetricsList
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || list.Kind != "PodMetricsList" || list.APIVersion != "metrics.k8s.io/v1beta1" ||
		len(list.Items) != 1 || list.Items[0].Name != "p1" || list.Items[0].Labels["app"] != "x" || list.Items[0].Window.Duration != 15*time.Second {
		t.Fatalf("json list = %s (%v)", w.Body, err)
	}
	// Protobuf, as typed clients may ask.
	w = serve(h, "GET", Prefix+"nodes/n1", "application/vnd.kubernetes.protobuf")
	if ct := w.Header().Get("Content-Type"); ct != "application/vnd.kubernetes.protobuf" {
		t.Fatalf("content type %q", ct)
	}
	scheme := runtime.NewScheme()
	_ = metricsv1beta1.AddToScheme(scheme)
	obj, _, err := protobuf.NewSerializer(scheme, scheme).Decode(w.Body.Bytes(), nil, nil)
	if nm, ok := obj.(*metricsv1beta1.NodeMetrics); err != nil || !ok || nm.Name != "n1" || nm.Usage.Cpu().MilliValue() != 250 {
		t.Fatalf("protobuf = %#v, %v", obj, err)
	}
	// Tables as metrics-server's: name, cpu, memory, window.
	w = serve(h, "GET", Prefix+"namespaces/ns/pods", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	var table metav1.Table
	if err := json.Unmarshal(w.Body.Bytes(), &table); err != nil || len(table.ColumnDefinitions) != 4 || len(table.Rows) != 1 {
		t.Fatalf("table = %s (%v)", w.Body, err)
	}
	if got := table.Rows[0].Cells; got[0] != "p1" || got[1] != "150m" || got[2] != "15Mi" || got[3] != "15s" {
		t.Errorf("row = %v", got)
	}
	var meta metav1.PartialObjectMetadata
	if err := json.Unmarshal(table.Rows[0].Object.Raw, &meta); err != nil || meta.Namespace != "ns" {
		t.Errorf("row object = %s", table.Rows[0].Object.Raw)
	}
}
