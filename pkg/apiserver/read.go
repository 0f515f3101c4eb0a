package apiserver

import (
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/flotilla-io/flotilla/pkg/registry"
	"github.com/flotilla-io/flotilla/pkg/storage"
)

// serveResource runs one routed resource request.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, req *request) {
	out, ok := negotiate(r.Header.Get("Accept"))
	if !ok && req.verb != "connect" && req.subresource != "log" {
		s.writeStatus(w, r, &notAcceptable(r.Header.Get("Accept")).ErrStatus)
		return
	}
	var err error
	switch {
	case req.subresource != "" && !req.res.ServesObject(req.subresource):
		err = s.serveSubresource(w, r, req, out)
	case req.verb == "get":
		err = s.serveGet(w, r, req, out)
	case req.verb == "list":
		err = s.serveList(w, r, req, out)
	case req.verb == "watch":
		err = s.serveWatch(w, r, req, out)
	case req.verb == "create":
		err = s.serveCreate(w, r, req, out)
	case req.verb == "update":
		err = s.serveUpdate(w, r, req, out)
	case req.verb == "patch":
		err = s.servePatch(w, r, req, out)
	case req.verb == "delete":
		err = s.serveDelete(w, r, req, out)
	case req.verb == "deletecollection":
		err = s.serveDeleteCollection(w, r, req, out)
	default:
		err = apierrors.NewMethodNotSupported(req.res.GVR().GroupResource(), req.verb)
	}
	if err != nil {
		s.writeError(w, r, err, req.res.GVR().GroupResource(), req.name)
	}
}

// get reads one object in the served version.
func (s *Server) get(r *http.Request, req *request) (runtime.Object, error) {
	obj, err := req.res.Store.Get(r.Context(), req.res.Store.Key(req.namespace, req.name))
	if err != nil {
		return nil, err
	}
	return req.res.Decode(obj)
}

func (s *Server) serveGet(w http.ResponseWriter, r *http.Request, req *request, out output) error {
	obj, err := s.get(r, req)
	if err != nil {
		return err
	}
	s.writeResult(w, r, req, http.StatusOK, obj, out)
	return nil
}

// writeResult writes one object, as a Table or partial metadata when asked.
func (s *Server) writeResult(w http.ResponseWriter, r *http.Request, req *request, code int, obj runtime.Object, out output) {
	switch out.as {
	case "Table":
		table, err := s.table(r, req.res, obj, "")
		if err != nil {
			s.writeError(w, r, err, req.res.GVR().GroupResource(), req.name)
			return
		}
		s.writeObject(w, r, code, table, out)
	case "PartialObjectMetadata":
		s.writeObject(w, r, code, partialMetadata(obj), out)
	default:
		obj.GetObjectKind().SetGroupVersionKind(req.res.GVK())
		s.writeObject(w, r, code, obj, out)
	}
}

func partialMetadata(obj runtime.Object) *metav1.PartialObjectMetadata {
	pm := &metav1.PartialObjectMetadata{}
	// Typed objects embed ObjectMeta; GetObjectMeta hands out a pointer
	// to that embedded struct.
	if ma, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if om, ok := ma.GetObjectMeta().(*metav1.ObjectMeta); ok {
			pm.ObjectMeta = *om.DeepCopy()
		}
	}
	pm.Kind, pm.APIVersion = "PartialObjectMetadata", "meta.k8s.io/v1"
	return pm
}

// listOptions are the query parameters shared by list and watch.
type listOptions struct {
	labels        labels.Selector
	fields        fields.Selector
	limit         int64
	cont          string
	rv            string
	rvMatch       string
	timeout       int64
	bookmarks     bool
	initialEvents *bool
}

func (s *Server) parseListOptions(r *http.Request, res *registry.Resource) (*listOptions, error) {
	var mo metav1.ListOptions
	if err := metav1.Convert_url_Values_To_v1_ListOptions(ptrValues(r), &mo, nil); err != nil {
		return nil, badRequest("invalid list options: %v", err)
	}
	o := &listOptions{limit: mo.Limit, cont: mo.Continue, rv: mo.ResourceVersion, rvMatch: string(mo.ResourceVersionMatch), bookmarks: mo.AllowWatchBookmarks, initialEvents: mo.SendInitialEvents}
	if mo.TimeoutSeconds != nil {
		o.timeout = *mo.TimeoutSeconds
	}
	var err error
	if o.labels, err = labels.Parse(mo.LabelSelector); err != nil {
		return nil, badRequest("unable to parse requirement: %v", err)
	}
	if o.fields, err = fields.ParseSelector(mo.FieldSelector); err != nil {
		return nil, badRequest("invalid field selector: %v", err)
	}
	// Reject selectors on fields the kind does not index, like upstream,
	// and translate this version's labels into the stored type's.
	known := res.Fields(res.Store.New())
	var terms []fields.Selector
	for _, req := range o.fields.Requirements() {
		field := req.Field
		if res.FieldLabels != nil {
			mapped, ok := res.FieldLabels[field]
			if !ok {
				return nil, badRequest("field label not supported: %s", req.Field)
			}
			field = mapped
		}
		if _, ok := known[field]; !ok {
			return nil, badRequest("field label not supported: %s", req.Field)
		}
		switch req.Operator {
		case selection.Equals, selection.DoubleEquals:
			terms = append(terms, fields.OneTermEqualSelector(field, req.Value))
		case selection.NotEquals:
			terms = append(terms, fields.OneTermNotEqualSelector(field, req.Value))
		default:
			return nil, badRequest("invalid field selector operator %q", req.Operator)
		}
	}
	if res.FieldLabels != nil {
		o.fields = fields.AndSelectors(terms...)
	}
	if _, err := storage.ParseRevision(o.rv); err != nil {
		return nil, badRequest("%v", err)
	}
	switch o.rvMatch {
	case "", string(metav1.ResourceVersionMatchExact), string(metav1.ResourceVersionMatchNotOlderThan):
	default:
		return nil, badRequest("resourceVersionMatch: Unsupported value: %q", o.rvMatch)
	}
	if o.rvMatch != "" && o.rv == "" {
		return nil, badRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
	}
	if o.cont != "" && o.rv != "" && o.rv != "0" {
		return nil, badRequest("specifying resource version is not allowed when using continue")
	}
	if o.limit < 0 {
		return nil, badRequest("limit must be non-negative")
	}
	return o, nil
}

// filter returns the predicate for the stored form of objects.
func (o *listOptions) filter(res *registry.Resource, ns string) func(runtime.Object) bool {
	if o.labels.Empty() && o.fields.Empty() {
		return nil
	}
	return func(obj runtime.Object) bool {
		if !o.labels.Empty() && !o.labels.Matches(labels.Set(accessor(obj).GetLabels())) {
			return false
		}
		if !o.fields.Empty() && !o.fields.Matches(res.Fields(obj)) {
			return false
		}
		return true
	}
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request, req *request, out output) error {
	opts, err := s.parseListOptions(r, req.res)
	if err != nil {
		return err
	}
	if out.as == "" && out.media == mediaProtobuf && req.res.FromStorage == nil && opts.filter(req.res, req.namespace) == nil {
		return s.serveRawList(w, r, req, opts)
	}
	lr, err := s.list(r, req, opts)
	if err != nil {
		return err
	}
	items := make([]runtime.Object, 0, len(lr.Items))
	for _, it := range lr.Items {
		obj, err := req.res.Decode(it)
		if err != nil {
			return err
		}
		items = append(items, obj)
	}
	lm := metav1.ListMeta{ResourceVersion: strconv.FormatInt(lr.Revision, 10), Continue: lr.Continue}
	if lr.Continue != "" && lr.Remaining > 0 {
		n := lr.Remaining
		lm.RemainingItemCount = &n
	}
	switch out.as {
	case "Table":
		table, err := s.tableOf(r, req.res, items, lm)
		if err != nil {
			return err
		}
		s.writeObject(w, r, http.StatusOK, table, out)
		return nil
	case "PartialObjectMetadataList", "PartialObjectMetadata":
		pl := &metav1.PartialObjectMetadataList{ListMeta: lm}
		pl.Kind, pl.APIVersion = "PartialObjectMetadataList", "meta.k8s.io/v1"
		for _, it := range items {
			pl.Items = append(pl.Items, *partialMetadata(it))
		}
		s.writeObject(w, r, http.StatusOK, pl, output{media: out.media})
		return nil
	}
	list := req.res.NewList()
	for _, it := range items {
		// Items in a list carry no kind of their own, as upstream.
		it.GetObjectKind().SetGroupVersionKind(emptyGVK)
	}
	if err := meta.SetList(list, items); err != nil {
		return err
	}
	lacc, err := meta.ListAccessor(list)
	if err != nil {
		return err
	}
	lacc.SetResourceVersion(lm.ResourceVersion)
	lacc.SetContinue(lm.Continue)
	lacc.SetRemainingItemCount(lm.RemainingItemCount)
	list.GetObjectKind().SetGroupVersionKind(req.res.GroupVersion().WithKind(req.res.ListKind))
	s.writeObject(w, r, http.StatusOK, list, out)
	return nil
}

// list reads a page from storage honouring resourceVersion semantics:
// "" and NotOlderThan read the latest state, Exact reads at that revision.
func (s *Server) list(r *http.Request, req *request, opts *listOptions) (*storage.ListResult, error) {
	so := storage.ListOptions{Limit: opts.limit, Continue: opts.cont, Filter: opts.filter(req.res, req.namespace)}
	if opts.rvMatch == string(metav1.ResourceVersionMatchExact) {
		rev, _ := storage.ParseRevision(opts.rv)
		so.Revision = rev
	}
	return req.res.Store.List(r.Context(), req.res.Store.Prefix(req.namespace), so)
}

// serveRawList answers an unfiltered protobuf list by framing the stored
// messages as they are: no decode, no re-encode. Informers and typed
// clients list this way, and it is most of a large list's cost.
func (s *Server) serveRawList(w http.ResponseWriter, r *http.Request, req *request, opts *listOptions) error {
	so := storage.ListOptions{Limit: opts.limit, Continue: opts.cont}
	if opts.rvMatch == string(metav1.ResourceVersionMatchExact) {
		so.Revision, _ = storage.ParseRevision(opts.rv)
	}
	lr, err := req.res.Store.ListRaw(r.Context(), req.res.Store.Prefix(req.namespace), so)
	if err != nil {
		return err
	}
	lm := metav1.ListMeta{ResourceVersion: strconv.FormatInt(lr.Revision, 10), Continue: lr.Continue}
	if lr.Continue != "" && lr.Remaining > 0 {
		n := lr.Remaining
		lm.RemainingItemCount = &n
	}
	metaBytes, err := lm.Marshal()
	if err != nil {
		return err
	}
	body := storage.FrameList(req.res.GroupVersion().String(), req.res.ListKind, metaBytes, lr.Items)
	w.Header().Set("Content-Type", mediaProtobuf)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}
