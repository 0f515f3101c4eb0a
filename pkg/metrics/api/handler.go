package api

import (
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata/metadatalister"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/flotilla-io/flotilla/pkg/metrics/storage"
)

// GroupVersion is the API this package serves.
var GroupVersion = metricsv1beta1.SchemeGroupVersion

// Prefix is the path every request of the group version starts with.
var Prefix = "/apis/" + GroupVersion.String() + "/"

var (
	nodesResource = GroupVersion.WithResource("nodes").GroupResource()
	podsResource  = GroupVersion.WithResource("pods").GroupResource()
	// The resources metrics-server names in its NotFound answers.
	nodeMetricsResource = GroupVersion.WithResource("nodemetrics").GroupResource()
	podMetricsResource  = GroupVersion.WithResource("podmetrics").GroupResource()
)

// Resources lists the served resources for discovery, as metrics-server
// lists them.
func Resources() []metav1.APIResource {
	verbs := metav1.Verbs{"get", "list"}
	return []metav1.APIResource{
		{Name: "nodes", SingularName: "", Namespaced: false, Kind: "NodeMetrics", Verbs: verbs},
		{Name: "pods", SingularName: "", Namespaced: true, Kind: "PodMetrics", Verbs: verbs},
	}
}

// Usage is where the samples come from.
type Usage interface {
	Node(name string) (storage.Usage, bool)
	Pod(ref types.NamespacedName) (storage.PodUsage, bool)
}

// Caches are the informer caches the handler reads; nil until they have
// synced.
type Caches struct {
	Nodes corev1listers.NodeLister
	Pods  metadatalister.Lister
}

// Handler serves the group version.
type Handler struct {
	usage  Usage
	caches func() *Caches
	codecs serializer.CodecFactory
	log    *slog.Logger
}

// New serves usage; caches returns nil while the caches are not ready.
func New(usage Usage, caches func() *Caches, log *slog.Logger) *Handler {
	scheme := runtime.NewScheme()
	_ = metricsv1beta1.AddToScheme(scheme) // static registration of known types
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	return &Handler{usage: usage, caches: caches, codecs: serializer.NewCodecFactory(scheme), log: log}
}

// ServeHTTP answers a request below Prefix; the API server has
// authenticated it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, Prefix), "/"), "/")
	var (
		gr            schema.GroupResource
		ns, name      string
		validResource = true
	)
	switch {
	case len(segs) <= 2 && segs[0] == "nodes":
		gr = nodesResource
		if len(segs) == 2 {
			name = segs[1]
		}
	case len(segs) <= 2 && segs[0] == "pods":
		gr = podsResource
		if len(segs) == 2 {
			// pods/NAME without a namespace is not a path upstream serves.
			validResource = false
		}
	case len(segs) >= 3 && len(segs) <= 4 && segs[0] == "namespaces" && segs[2] == "pods" && segs[1] != "":
		gr, ns = podsResource, segs[1]
		if len(segs) == 4 {
			name = segs[3]
		}
	default:
		validResource = false
	}
	if !validResource || (len(segs) > 1 && segs[len(segs)-1] == "") {
		h.writeStatus(w, notFoundPath())
		return
	}
	q := r.URL.Query()
	if r.Method != http.MethodGet || q.Get("watch") == "true" || q.Get("watch") == "1" {
		verb := strings.ToLower(r.Method)
		if r.Method == http.MethodGet {
			verb = "watch"
		}
		h.writeStatus(w, apierrors.NewMethodNotSupported(gr, verb))
		return
	}
	caches := h.caches()
	if caches == nil {
		h.writeStatus(w, apierrors.NewServiceUnavailable("the metrics API is starting: its caches have not synced yet"))
		return
	}
	out, ok := negotiate(r.Header.Get("Accept"))
	if !ok {
		h.writeStatus(w, &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusNotAcceptable, Reason: metav1.StatusReasonNotAcceptable,
			Message: "only the following media types are accepted: application/json, application/vnd.kubernetes.protobuf, application/json;as=Table;v=v1;g=meta.k8s.io",
		}})
		return
	}
	var (
		obj runtime.Object
		err error
	)
	switch {
	case gr == nodesResource && name != "":
		obj, err = h.getNode(caches, name)
	case gr == nodesResource:
		obj, err = h.listNodes(caches, q)
	case name != "":
		obj, err = h.getPod(caches, ns, name)
	default:
		obj, err = h.listPods(caches, ns, q)
	}
	if err != nil {
		h.writeStatus(w, err)
		return
	}
	h.write(w, out, obj)
}

// output is the representation a client accepts.
type output struct {
	media string // application/json or application/vnd.kubernetes.protobuf
	table bool
}

func negotiate(accept string) (output, bool) {
	if strings.TrimSpace(accept) == "" {
		return output{media: runtime.ContentTypeJSON}, true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch as := params["as"]; {
		case as == "Table" && params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1") && mt == runtime.ContentTypeJSON:
			return output{media: runtime.ContentTypeJSON, table: true}, true
		case as != "":
			continue
		}
		switch mt {
		case runtime.ContentTypeJSON, "application/*", "*/*":
			return output{media: runtime.ContentTypeJSON}, true
		case runtime.ContentTypeProtobuf:
			return output{media: runtime.ContentTypeProtobuf}, true
		}
	}
	return output{}, false
}

func (h *Handler) write(w http.ResponseWriter, out output, obj runtime.Object) {
	if out.table {
		w.Header().Set("Content-Type", runtime.ContentTypeJSON)
		_ = json.NewEncoder(w).Encode(toTable(obj))
		return
	}
	info, ok := runtime.SerializerInfoForMediaType(h.codecs.SupportedMediaTypes(), out.media)
	if !ok {
		h.writeStatus(w, apierrors.NewInternalError(errNoSerializer))
		return
	}
	enc := h.codecs.EncoderForVersion(info.Serializer, GroupVersion)
	w.Header().Set("Content-Type", out.media)
	if err := enc.Encode(obj, w); err != nil {
		h.log.Warn("write metrics response", "err", err)
	}
}

// writeStatus answers with err as a Kubernetes Status.
func (h *Handler) writeStatus(w http.ResponseWriter, err error) {
	var st metav1.Status
	if se, ok := err.(apierrors.APIStatus); ok {
		st = se.Status()
	} else {
		st = apierrors.NewInternalError(err).ErrStatus
	}
	st.Kind, st.APIVersion = "Status", "v1"
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	if st.Code >= 500 && st.Code != http.StatusServiceUnavailable {
		h.log.Error("metrics request failed", "err", st.Message)
	}
	w.Header().Set("Content-Type", runtime.ContentTypeJSON)
	w.WriteHeader(int(st.Code))
	_ = json.NewEncoder(w).Encode(&st)
}

func notFoundPath() error {
	st := apierrors.NewNotFound(schema.GroupResource{}, "")
	st.ErrStatus.Message = "the server could not find the requested resource"
	st.ErrStatus.Details = nil
	return st
}

type constError string

func (e constError) Error() string { return string(e) }

const errNoSerializer = constError("no serializer for the negotiated media type")
