package apiserver

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/pkg/registry"
)

// Auditor is an audit log: its policy decides the level and the stages a
// request is recorded at, and it takes the events (upstream's policy
// evaluator and backend, see package auditlog).
type Auditor interface {
	EvaluatePolicyRule(attrs authorizer.Attributes) audit.RequestAuditConfig
	ProcessEvents(events ...*auditinternal.Event) bool
}

// maxAuditedBody bounds the response bodies an event keeps; longer ones
// are recorded without their body.
const maxAuditedBody = maxBodyBytes

// audited records the request in the audit log as upstream's audit
// filter: RequestReceived before it is served, ResponseStarted when a
// long-running request sends its headers, ResponseComplete at its end
// and Panic when it panics, each unless the policy omits the stage, with
// the request and response bodies at the Request and RequestResponse
// levels.
func (s *Server) audited(w http.ResponseWriter, r *http.Request, info requestInfo, u registry.User, next func(http.ResponseWriter, *http.Request)) {
	if s.cfg.Audit == nil {
		next(w, r)
		return
	}
	attrs := auditAttributes(r, info, u)
	rac := s.cfg.Audit.EvaluatePolicyRule(attrs)
	if rac.Level == auditinternal.LevelNone {
		next(w, r)
		return
	}
	ev := &auditinternal.Event{
		Level:                    rac.Level,
		AuditID:                  types.UID(uuid.NewString()),
		RequestURI:               r.URL.RequestURI(),
		Verb:                     attrs.Verb,
		User:                     authnv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups},
		SourceIPs:                sourceIPs(r),
		UserAgent:                r.UserAgent(),
		RequestReceivedTimestamp: metav1.NewMicroTime(time.Now()),
	}
	if info.resource != nil {
		ev.ObjectRef = &auditinternal.ObjectReference{
			Resource: attrs.Resource, Namespace: attrs.Namespace, Name: attrs.Name,
			APIGroup: attrs.APIGroup, APIVersion: attrs.APIVersion, Subresource: attrs.Subresource,
		}
	}
	w.Header().Set("Audit-Id", string(ev.AuditID))
	emit := func(stage auditinternal.Stage) {
		if slices.Contains(rac.OmitStages, stage) {
			return
		}
		e := ev.DeepCopy()
		e.Stage, e.StageTimestamp = stage, metav1.NewMicroTime(time.Now())
		s.cfg.Audit.ProcessEvents(e)
	}
	if rac.Level.GreaterOrEqual(auditinternal.LevelRequest) && r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
		r.Body = readCloser{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		if err == nil && len(body) <= maxBodyBytes {
			if js := s.auditJSON(r.Header.Get("Content-Type"), body); js != nil {
				ev.RequestObject = &runtime.Unknown{Raw: omitManagedFields(js, rac.OmitManagedFields), ContentType: runtime.ContentTypeJSON}
			}
		}
	}
	emit(auditinternal.StageRequestReceived)
	keepBody := rac.Level.GreaterOrEqual(auditinternal.LevelRequestResponse) && !info.longRunning
	aw := &auditWriter{ResponseWriter: w, capture: keepBody, captureErrors: !info.longRunning}
	if info.longRunning {
		aw.started = func(code int) {
			ev.ResponseStatus = &metav1.Status{Code: int32(code)}
			emit(auditinternal.StageResponseStarted)
		}
	}
	defer func() {
		if p := recover(); p != nil {
			ev.ResponseStatus = &metav1.Status{Code: http.StatusInternalServerError, Status: metav1.StatusFailure, Reason: metav1.StatusReasonInternalError, Message: "APIServer panic'd"}
			emit(auditinternal.StagePanic)
			panic(p)
		}
	}()
	next(aw, r)
	ev.ResponseStatus = aw.status(rac.Level)
	if keepBody && aw.capture && aw.buf.Len() > 0 {
		if js := s.auditJSON(aw.Header().Get("Content-Type"), aw.buf.Bytes()); js != nil {
			ev.ResponseObject = &runtime.Unknown{Raw: omitManagedFields(js, rac.OmitManagedFields), ContentType: runtime.ContentTypeJSON}
		}
	}
	emit(auditinternal.StageResponseComplete)
}

// auditJSON is a body as an audit event keeps it: JSON whatever the wire
// form (protobuf objects are decoded and encoded again, YAML converted);
// nil when it is none of these.
func (s *Server) auditJSON(contentType string, body []byte) []byte {
	if json.Valid(body) {
		return body
	}
	media, _, _ := mime.ParseMediaType(contentType)
	switch {
	case media == runtime.ContentTypeProtobuf:
		obj, gvk, err := s.codecs.UniversalDeserializer().Decode(body, nil, nil)
		if err != nil {
			return nil
		}
		obj.GetObjectKind().SetGroupVersionKind(*gvk)
		out, err := json.Marshal(obj)
		if err != nil {
			return nil
		}
		return out
	case strings.Contains(media, "yaml"):
		if out, err := yaml.YAMLToJSON(body); err == nil && json.Valid(out) {
			return out
		}
	}
	return nil
}

// auditAttributes describes the request to the audit policy.
func auditAttributes(r *http.Request, info requestInfo, u registry.User) authorizer.AttributesRecord {
	a := authorizer.AttributesRecord{
		User: &user.DefaultInfo{Name: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra},
		Verb: info.verb,
		Path: r.URL.Path,
	}
	if req := info.resource; req != nil {
		a.ResourceRequest = true
		a.Namespace, a.Name = req.namespace, req.name
		a.APIGroup, a.APIVersion = req.gv.Group, req.gv.Version
		a.Resource, a.Subresource = req.res.Plural, req.subresource
		if req.res.Plural == "namespaces" && req.name != "" {
			a.Namespace = req.name // as upstream: a namespace is in itself
		}
	}
	return a
}

// sourceIPs are the client's address and what X-Forwarded-For and
// X-Real-Ip claim, as upstream lists them.
func sourceIPs(r *http.Request) []string {
	var ips []string
	for _, h := range strings.Split(r.Header.Get("X-Forwarded-For"), ",") {
		if ip := net.ParseIP(strings.TrimSpace(h)); ip != nil {
			ips = append(ips, ip.String())
		}
	}
	if ip := net.ParseIP(strings.TrimSpace(r.Header.Get("X-Real-Ip"))); ip != nil && !slices.Contains(ips, ip.String()) {
		ips = append(ips, ip.String())
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil && !slices.Contains(ips, host) {
		ips = append(ips, host)
	}
	return ips
}

// omitManagedFields drops metadata.managedFields from a JSON object when
// the policy asks.
func omitManagedFields(body []byte, omit bool) []byte {
	if !omit || !bytes.Contains(body, []byte(`"managedFields"`)) {
		return body
	}
	var obj map[string]any
	if json.Unmarshal(body, &obj) != nil {
		return body
	}
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "managedFields")
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return body
	}
	return out
}

type readCloser struct {
	io.Reader
	io.Closer
}

// auditWriter watches a response for the audit log: its code, the start
// of a long-running response, and (when captured) its body.
type auditWriter struct {
	http.ResponseWriter
	code    int
	capture bool // keep the body (up to maxAuditedBody)
	// captureErrors keeps the body of an error answer, for its Status.
	captureErrors bool
	buf           bytes.Buffer
	started       func(code int)
}

func (a *auditWriter) WriteHeader(code int) {
	if a.code == 0 {
		a.code = code
		if code >= 300 && a.captureErrors {
			a.capture = true
		}
		if a.started != nil {
			a.started(code)
		}
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *auditWriter) Write(b []byte) (int, error) {
	if a.code == 0 {
		a.WriteHeader(http.StatusOK)
	}
	if a.capture {
		if a.buf.Len()+len(b) <= maxAuditedBody {
			a.buf.Write(b)
		} else {
			a.capture = false
			a.buf = bytes.Buffer{}
		}
	}
	return a.ResponseWriter.Write(b)
}

func (a *auditWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

func (a *auditWriter) Flush() {
	if a.code == 0 {
		a.WriteHeader(http.StatusOK)
	}
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (a *auditWriter) wroteHeader() bool { return a.code != 0 }

// status is the event's responseStatus: the code, and for an answer that
// is a Status its status, reason and message (details only at the
// Request level and above, as upstream).
func (a *auditWriter) status(level auditinternal.Level) *metav1.Status {
	code := a.code
	if code == 0 {
		code = http.StatusOK
	}
	st := &metav1.Status{Code: int32(code)}
	if code >= 300 && a.capture && a.buf.Len() > 0 {
		var body metav1.Status
		if json.Unmarshal(a.buf.Bytes(), &body) == nil && body.Kind == "Status" {
			st.Status, st.Reason, st.Message = body.Status, body.Reason, body.Message
			if level.GreaterOrEqual(auditinternal.LevelRequest) {
				st.Details = body.Details
			}
		}
	}
	return st
}
