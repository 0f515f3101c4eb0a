package apiserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apiserver/pkg/admission"

	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/flotilla-io/flotilla/pkg/registry"
	"github.com/flotilla-io/flotilla/pkg/serviceaccount"
)

// User is an authenticated caller.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// registryUser is the caller as strategies see it; like upstream's
// authenticators, every authenticated user is in system:authenticated.
func (u User) registryUser() registry.User {
	groups := append([]string(nil), u.Groups...)
	if !slices.Contains(groups, registry.AllAuthenticated) {
		groups = append(groups, registry.AllAuthenticated)
	}
	return registry.User{Name: u.Name, UID: u.UID, Groups: groups, Extra: u.Extra}
}

// Authenticator identifies the caller of a request; ok=false means the
// request carries no valid credentials.
type Authenticator func(r *http.Request) (User, bool)

// Config wires a Server.
type Config struct {
	Scheme    *runtime.Scheme
	Resources []*registry.Resource
	OpenAPI   http.Handler // serves /openapi/...
	// ServiceAccountIssuer serves service account issuer discovery
	// (/.well-known/openid-configuration and /openid/v1/jwks); nil: not
	// served.
	ServiceAccountIssuer http.Handler
	TypeConverter        managedfields.TypeConverter // schemas for server-side apply
	Authenticate         Authenticator
	// Authorizer decides every authenticated request (nil = allow all,
	// for tests of other parts).
	Authorizer authorizer.Authorizer
	// Ready reports whether the server may say it is ready (nil = ready).
	Ready   func(ctx context.Context) error
	Version version.Info
	Log     *slog.Logger
	// Pods serves the streaming subresources of pods (log, and later
	// exec, attach, portforward) from the node that runs them; nil answers
	// 503.
	Pods PodConnector
	// Tokens signs service account tokens (serviceaccounts/token); nil
	// answers 503.
	Tokens TokenIssuer
	// TokenMaxExpiration caps the lifetime of requested tokens (0 = no
	// cap beyond upstream's 2^32 seconds), --service-account-max-token-expiration.
	TokenMaxExpiration time.Duration
	// TokenExtendExpiration makes kube-api-access tokens (pod-bound, for
	// the API, 3607 s) valid for a year with a warnafter claim, as
	// upstream's --service-account-extend-token-expiration.
	TokenExtendExpiration bool
	// Groups are group versions served by Go handlers (see HandlerGroup).
	Groups []HandlerGroup
	// Limits bound request deadlines and concurrency (zero = none).
	Limits Limits
	// Audit records requests by an audit policy (nil = no audit log).
	Audit Auditor
	// Admission is the admission chain every write goes through: its
	// mutating phase after defaulting, its validating phase after
	// validation (nil = admit everything, for unit tests).
	Admission admission.Interface
}

// PodConnector serves a streaming subresource of a pod bound to a node,
// and a node's proxy subresource (its agent's endpoint: usage, metrics).
type PodConnector interface {
	ServePod(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, subresource string) error
	ServeNode(w http.ResponseWriter, r *http.Request, node, path string) error
}

// Server is the HTTP handler of the API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	scheme  *runtime.Scheme
	codecs  serializer.CodecFactory
	byGV    map[schema.GroupVersion]map[string]*registry.Resource
	gvOrder []schema.GroupVersion // discovery order, preferred version first per group
	byGVK   map[schema.GroupVersionKind]*registry.Resource
	metrics *metrics
	fields  *fieldManagers
	disco   *discovery
	mux     *http.ServeMux
	// inflight counts requests against Limits.
	inflight *inflight
	// objectInterfaces are the scheme's, for admission plugins.
	objectInterfaces admission.ObjectInterfaces
}

// New builds the API handler.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	limitJSONPatchCopies()
	s := &Server{
		cfg:      cfg,
		log:      cfg.Log,
		scheme:   cfg.Scheme,
		codecs:   serializer.NewCodecFactory(cfg.Scheme, serializer.EnableStrict),
		byGV:     map[schema.GroupVersion]map[string]*registry.Resource{},
		byGVK:    map[schema.GroupVersionKind]*registry.Resource{},
		metrics:  newMetrics(),
		inflight: newInflight(cfg.Limits),

		objectInterfaces: admission.NewObjectInterfacesFromScheme(cfg.Scheme),
	}
	// A chain that times its plugins reports to the per-plugin series.
	if c, ok := cfg.Admission.(interface {
		SetObserver(func(plugin, phase string, op admission.Operation, rejected bool, d time.Duration))
	}); ok {
		c.SetObserver(s.metrics.observeAdmissionPlugin)
	}
	for _, r := range cfg.Resources {
		gv := r.GroupVersion()
		if s.byGV[gv] == nil {
			s.byGV[gv] = map[string]*registry.Resource{}
			s.gvOrder = append(s.gvOrder, gv)
		}
		if _, dup := s.byGV[gv][r.Plural]; dup {
			return nil, fmt.Errorf("resource %s registered twice", r.GVR())
		}
		s.byGV[gv][r.Plural] = r
		s.byGVK[r.GVK()] = r
	}
	s.fields = newFieldManagers(cfg.TypeConverter, cfg.Scheme)
	s.disco = newDiscovery(s)
	s.mux = http.NewServeMux()
	s.routes()
	return s, nil
}

// Resource returns the served resource for gvr, or nil.
func (s *Server) Resource(gvr schema.GroupVersionResource) *registry.Resource {
	return s.byGV[gvr.GroupVersion()][gvr.Resource]
}

func (s *Server) routes() {
	public := func(h http.HandlerFunc) http.Handler { return h }
	s.mux.Handle("GET /healthz", public(s.serveHealth))
	s.mux.Handle("GET /livez", public(s.serveHealth))
	s.mux.Handle("GET /readyz", public(s.serveReady))
	s.mux.Handle("GET /healthz/{check...}", public(s.serveHealth))
	s.mux.Handle("GET /livez/{check...}", public(s.serveHealth))
	s.mux.Handle("GET /readyz/{check...}", public(s.serveReady))
	s.mux.Handle("GET /version", s.authenticated(http.HandlerFunc(s.serveVersion)))
	s.mux.Handle("GET /metrics", s.authenticated(s.metrics.handler()))
	if h := s.cfg.ServiceAccountIssuer; h != nil {
		s.mux.Handle("GET "+serviceaccount.DiscoveryPath, s.authenticated(h))
		s.mux.Handle("GET "+serviceaccount.JWKSPath, s.authenticated(h))
	}
	if s.cfg.OpenAPI != nil {
		s.mux.Handle("/openapi/", s.authenticated(s.cfg.OpenAPI))
	}
	s.mux.Handle("/api", s.authenticated(http.HandlerFunc(s.serveAPI)))
	s.mux.Handle("/api/", s.authenticated(http.HandlerFunc(s.serveAPI)))
	s.mux.Handle("/apis", s.authenticated(http.HandlerFunc(s.serveAPI)))
	s.mux.Handle("/apis/", s.authenticated(http.HandlerFunc(s.serveAPI)))
	s.mux.Handle("/", s.authenticated(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeStatus(w, r, &apierrors.NewNotFound(schema.GroupResource{}, "").ErrStatus)
	})))
}

// ServeHTTP runs every request through panic recovery and metrics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	r, _ = withLabels(r)
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	r = withWarnings(rec, r)
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			if !rec.wrote {
				s.writeStatus(rec, r, &apierrors.NewInternalError(fmt.Errorf("the server hit an internal error")).ErrStatus)
			}
		}
		s.metrics.observe(r, rec.code, time.Since(start))
	}()
	s.mux.ServeHTTP(rec, r)
}

func (s *Server) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ru registry.User
		if s.cfg.Authenticate != nil {
			u, ok := s.cfg.Authenticate(r)
			if !ok {
				st := apierrors.NewUnauthorized("Unauthorized").ErrStatus
				s.writeStatus(w, r, &st)
				return
			}
			caller, ok := s.impersonate(w, r, u.registryUser())
			if !ok {
				return
			}
			ru = caller
			r = r.WithContext(registry.WithUser(r.Context(), ru))
		}
		info := s.classify(r)
		// As upstream's chain: audited, then limited, then authorized.
		authorized := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s.cfg.Authorizer != nil && !s.authorize(w, r, ru.Info()) {
				return
			}
			next.ServeHTTP(w, r)
		})
		s.audited(w, r, info, ru, func(w http.ResponseWriter, r *http.Request) {
			s.limit(w, r, info, ru, authorized)
		})
	})
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok"))
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "readyz check failed: %v\n", err)
			return
		}
	}
	s.serveHealth(w, r)
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, http.StatusOK, s.cfg.Version)
}

// serveAPI dispatches /api and /apis requests to discovery or resources.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	segs := splitPath(r.URL.Path)
	var gv schema.GroupVersion
	var rest []string
	switch {
	case segs[0] == "api":
		if len(segs) == 1 {
			s.disco.serveCoreRoot(w, r)
			return
		}
		if segs[1] != "v1" {
			s.notFound(w, r)
			return
		}
		gv, rest = schema.GroupVersion{Version: "v1"}, segs[2:]
	default: // apis
		switch len(segs) {
		case 1:
			s.disco.serveGroupsRoot(w, r)
			return
		case 2:
			s.disco.serveGroup(w, r, segs[1])
			return
		}
		gv, rest = schema.GroupVersion{Group: segs[1], Version: segs[2]}, segs[3:]
	}
	if len(rest) == 0 {
		s.disco.serveResourceList(w, r, gv)
		return
	}
	if s.serveHandlerGroup(w, r, gv) {
		return
	}
	q := r.URL.Query()
	watchParam := q.Get("watch") == "true" || q.Get("watch") == "1"
	req, ok := s.parseResourcePath(gv, rest, r.Method, watchParam)
	if !ok {
		if s.byGV[gv] != nil && r.Method != http.MethodGet {
			s.writeStatus(w, r, &apierrors.NewMethodNotSupported(schema.GroupResource{Group: gv.Group, Resource: rest[0]}, strings.ToLower(r.Method)).ErrStatus)
			return
		}
		s.notFound(w, r)
		return
	}
	setRequestLabels(r, req)
	s.serveResource(w, r, req)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	st := apierrors.NewNotFound(schema.GroupResource{}, "").ErrStatus
	st.Message = "the server could not find the requested resource"
	st.Details = nil
	s.writeStatus(w, r, &st)
}

// statusRecorder remembers the response code for metrics and keeps the
// writer's optional interfaces reachable for streaming.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) wroteHeader() bool { return r.wrote }

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
