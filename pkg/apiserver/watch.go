package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/flotilla-io/flotilla/pkg/storage"
)

// initialEventsEnd marks the bookmark that closes the initial state of a
// sendInitialEvents watch.
const initialEventsEnd = "k8s.io/initial-events-end"

func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, req *request, out output) error {
	opts, err := s.parseListOptions(r, req.res)
	if err != nil {
		return err
	}
	if req.name != "" {
		opts.fields = fields.AndSelectors(opts.fields, fields.OneTermEqualSelector("metadata.name", req.name))
	}
	rev, _ := storage.ParseRevision(opts.rv)
	// Without a resourceVersion (or with "0") a watch starts with the
	// current state as ADDED events, as upstream does.
	initial := opts.rv == "" || opts.rv == "0"
	sendInitial := opts.initialEvents != nil && *opts.initialEvents
	if opts.initialEvents != nil {
		if sendInitial && opts.rvMatch != string(metav1.ResourceVersionMatchNotOlderThan) {
			return badRequest("sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan")
		}
		initial = sendInitial
		if sendInitial {
			rev = 0 // NotOlderThan: the latest state is not older than any given version
		}
	}
	if initial && !sendInitial {
		rev = 0
	}
	timeout := time.Duration(opts.timeout) * time.Second
	if timeout <= 0 {
		// Spread reconnections of many clients, like upstream's 30-60 min.
		timeout = 30*time.Minute + time.Duration(rand.Int64N(int64(30*time.Minute)))
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	events := req.res.Store.Watch(ctx, req.res.Store.Prefix(req.namespace), storage.WatchOptions{
		Revision:     rev,
		InitialState: initial,
		Filter:       opts.filter(req.res, req.namespace),
		Progress:     opts.bookmarks || sendInitial,
	})
	enc, err := s.newWatchEncoder(w, r, req, out)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", enc.contentType)
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	pendingInitialEnd := sendInitial
	for ev := range events {
		var err error
		switch {
		case ev.Expired:
			st := apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d", rev)).ErrStatus
			st.Kind, st.APIVersion = "Status", "v1"
			err = enc.encode(watch.Error, &st)
		case ev.Type == watch.Bookmark:
			if !opts.bookmarks && !pendingInitialEnd {
				continue
			}
			obj := req.res.New()
			acc := accessor(obj)
			acc.SetResourceVersion(strconv.FormatInt(ev.Revision, 10))
			if pendingInitialEnd {
				acc.SetAnnotations(map[string]string{initialEventsEnd: "true"})
				pendingInitialEnd = false
			}
			obj.GetObjectKind().SetGroupVersionKind(req.res.GVK())
			err = enc.encode(watch.Bookmark, obj)
		default:
			obj, derr := req.res.Decode(ev.Object)
			if derr != nil {
				return nil // the stream has started; end it
			}
			err = enc.encode(ev.Type, obj)
		}
		if err != nil {
			return nil
		}
		_ = rc.Flush()
		if ev.Expired {
			return nil
		}
	}
	return nil
}

// watchEncoder writes watch events in the negotiated format.
type watchEncoder struct {
	s           *Server
	r           *http.Request
	req         *request
	out         output
	w           io.Writer
	contentType string
	proto       runtime.Encoder // embedded objects; nil for JSON
	protoEvent  runtime.Encoder // the framed WatchEvent itself (raw, unwrapped)
	frame       io.Writer
	tableSent   bool
}

func (s *Server) newWatchEncoder(w http.ResponseWriter, r *http.Request, req *request, out output) (*watchEncoder, error) {
	e := &watchEncoder{s: s, r: r, req: req, out: out, w: w, contentType: mediaJSON}
	if out.media == mediaProtobuf && out.as == "" {
		info, ok := s.serializer(mediaProtobuf)
		if ok && info.StreamSerializer != nil {
			e.contentType = mediaProtobuf + ";stream=watch"
			e.proto = info.Serializer
			e.protoEvent = info.StreamSerializer.Serializer
			e.frame = info.StreamSerializer.Framer.NewFrameWriter(w)
		}
	}
	return e, nil
}

func (e *watchEncoder) encode(t watch.EventType, obj runtime.Object) error {
	if t != watch.Error {
		switch e.out.as {
		case "Table":
			table, err := e.s.table(e.r, e.req.res, obj, "")
			if err != nil {
				return err
			}
			if e.tableSent {
				table.ColumnDefinitions = nil // sent with the first event only
			}
			e.tableSent = true
			obj = table
		case "PartialObjectMetadata", "PartialObjectMetadataList":
			obj = partialMetadata(obj)
		default:
			obj.GetObjectKind().SetGroupVersionKind(e.req.res.GVK())
		}
	}
	if e.proto != nil {
		var raw bytes.Buffer
		if err := e.proto.Encode(obj, &raw); err != nil {
			return err
		}
		ev := &metav1.WatchEvent{Type: string(t), Object: runtime.RawExtension{Raw: raw.Bytes()}}
		var buf bytes.Buffer
		if err := e.protoEvent.Encode(ev, &buf); err != nil {
			return err
		}
		_, err := e.frame.Write(buf.Bytes())
		return err
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.Grow(len(data) + 32)
	buf.WriteString(`{"type":"`)
	buf.WriteString(string(t))
	buf.WriteString(`","object":`)
	buf.Write(data)
	buf.WriteString("}\n")
	_, err = e.w.Write(buf.Bytes())
	return err
}
