// Package streaming serves pods' streaming subresources over WebSocket on
// a node whose container runtime speaks SPDY only (containerd 1.6), the
// way upstream's API server translates for a kubelet:
//
//   - exec and attach (ServeRemoteCommand): the client's WebSocket, in one
//     of the channel protocols v5.channel.k8s.io, v4.channel.k8s.io,
//     v4.base64.channel.k8s.io, channel.k8s.io, base64.channel.k8s.io (or
//     none), is accepted here with wsstream's channel Conn, and the session
//     is driven against the runtime's streaming URL by client-go's SPDY
//     executor. v4 and v5 end with a metav1.Status on the error channel
//     (exit codes as NonZeroExitCode/ExitCode), the older protocols with
//     an error text on failure only; v5 honours the client's close signal.
//   - logs (ServeLog): binary.k8s.io, base64.binary.k8s.io or a plain
//     WebSocket carry the log bytes one way.
//   - port-forward (ServePortForward): kubectl's SPDY/3.1+portforward.k8s.io
//     tunnel, whose binary messages hold a raw SPDY session, is spliced
//     onto the runtime's SPDY port-forward connection.
//
// Every function answers a request it cannot serve with a Kubernetes
// Status error before anything is written (the client, kubectl, then falls
// back to SPDY); once the connection is upgraded, failures go on the
// protocol's own error channel or end the connection.
package streaming

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	"k8s.io/klog/v2"
)

// IsWebSocket reports whether r asks for a WebSocket upgrade.
func IsWebSocket(r *http.Request) bool { return wsstream.IsWebSocketRequest(r) }

// Check tells whether a WebSocket request for the subresource (exec,
// attach, log, portforward) can be served, before the caller does any
// work for it: nil, or a BadRequest Status naming what is supported.
func Check(r *http.Request, subresource string) error {
	var supported []string
	switch subresource {
	case "exec", "attach":
		supported = mapKeys(channelProtocols(nil))
	case "log":
		supported = mapKeys(wsstream.NewDefaultReaderProtocols())
	case "portforward":
		if len(tunneledProtocols(r)) > 0 {
			return nil
		}
		return apierrors.NewBadRequest(fmt.Sprintf("WebSocket port forwarding needs a tunneling subprotocol (%s); requested %v",
			tunnelPrefix+"portforward.k8s.io", requestedProtocols(r)))
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("pods/%s is not served over WebSocket", subresource))
	}
	if _, ok := negotiate(requestedProtocols(r), supported); !ok {
		slices.Sort(supported)
		return apierrors.NewBadRequest(fmt.Sprintf("requested WebSocket subprotocols %v are not supported for pods/%s; supported: %q",
			requestedProtocols(r), subresource, supported))
	}
	return nil
}

// requestedProtocols lists the client's Sec-WebSocket-Protocol values in
// its order of preference.
func requestedProtocols(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// negotiate picks the first requested protocol that is supported, as
// wsstream does; a request naming none gets "" if that is supported.
func negotiate(requested, supported []string) (string, bool) {
	if len(requested) == 0 {
		requested = []string{""}
	}
	for _, p := range requested {
		if slices.Contains(supported, p) {
			return p, true
		}
	}
	return "", false
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// hijack takes the client connection over before anything is written, so
// that a failure can still be answered with a Status, and with
// http.NewResponseController so that wrapped writers work. The returned
// writer hands the connection to a WebSocket library that asserts
// http.Hijacker (golang.org/x/net/websocket); onClose runs when the
// connection is closed, by either library or us, so the session's context
// can end with it (a hijacked request's context does not).
func hijack(w http.ResponseWriter, onClose func()) (*hijackedWriter, error) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("WebSocket upgrade: %w", err))
	}
	// The server's header and body deadlines are not the session's.
	_ = conn.SetDeadline(time.Time{})
	return &hijackedWriter{conn: &closeNotifyConn{Conn: conn, onClose: onClose}, brw: brw}, nil
}

type hijackedWriter struct {
	conn   *closeNotifyConn
	brw    *bufio.ReadWriter
	header http.Header
}

func (h *hijackedWriter) Header() http.Header {
	if h.header == nil {
		h.header = http.Header{}
	}
	return h.header
}
func (h *hijackedWriter) Write([]byte) (int, error) { return 0, http.ErrHijacked }
func (h *hijackedWriter) WriteHeader(int)           {}
func (h *hijackedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.conn, h.brw, nil
}

type closeNotifyConn struct {
	net.Conn
	once    sync.Once
	onClose func()
}

func (c *closeNotifyConn) Close() error {
	c.once.Do(c.onClose)
	return c.Conn.Close()
}

// klogContext routes what the k8s.io libraries log through klog (wsstream
// reports every connection a peer drops as an error) to log at debug
// level: such ends are normal for an interactive session.
func klogContext(ctx context.Context, log *slog.Logger) context.Context {
	return klog.NewContext(ctx, logr.FromSlogHandler(debugHandler{log.Handler()}))
}

type debugHandler struct{ slog.Handler }

func (h debugHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, min(l, slog.LevelDebug))
}

func (h debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = min(r.Level, slog.LevelDebug)
	return h.Handler.Handle(ctx, r)
}

func (h debugHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return debugHandler{h.Handler.WithAttrs(attrs)}
}

func (h debugHandler) WithGroup(name string) slog.Handler {
	return debugHandler{h.Handler.WithGroup(name)}
}
