package streaming

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	gwebsocket "github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	pfconst "k8s.io/apimachinery/pkg/util/portforward"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/klog/v2"
)

const (
	tunnelPrefix          = pfconst.WebsocketsSPDYTunnelingPrefix // "SPDY/3.1+"
	headerProtocolVersion = "X-Stream-Protocol-Version"
)

// tunneledProtocols are the SPDY protocols a WebSocket request asks to
// tunnel, in its order: kubectl 1.30+ offers SPDY/3.1+portforward.k8s.io.
func tunneledProtocols(r *http.Request) []string {
	var out []string
	for _, p := range requestedProtocols(r) {
		if strings.HasPrefix(p, tunnelPrefix) && strings.HasSuffix(p, pfconst.KubernetesSuffix) {
			out = append(out, strings.TrimPrefix(p, tunnelPrefix))
		}
	}
	return out
}

// ServePortForward serves a WebSocket port-forward request that tunnels
// SPDY (see IsWebSocket): the client speaks SPDY/3.1 inside binary
// messages, so once the runtime has accepted a SPDY upgrade at target
// (reached through transport), the two byte streams are spliced and the
// runtime serves the port streams as it does for a SPDY client. It
// returns a Status error only when nothing was sent to the client.
func ServePortForward(w http.ResponseWriter, r *http.Request, target *url.URL, transport http.RoundTripper, log *slog.Logger) error {
	protocols := tunneledProtocols(r)
	if len(protocols) == 0 {
		return Check(r, "portforward")
	}
	ctx := klogContext(r.Context(), log)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), nil)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "SPDY/3.1")
	for _, p := range protocols {
		req.Header.Add(headerProtocolVersion, p)
	}
	resp, err := transport.RoundTrip(req)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("port forward: reaching the container runtime: %w", err))
	}
	backend, ok := resp.Body.(io.ReadWriteCloser)
	if resp.StatusCode != http.StatusSwitchingProtocols || !ok {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
		return apierrors.NewInternalError(fmt.Errorf("port forward: the container runtime answered %s: %s", resp.Status, strings.TrimSpace(string(msg))))
	}
	closeBackend := sync.OnceValue(backend.Close)
	defer closeBackend()

	upgrader := gwebsocket.Upgrader{
		// The API server has authenticated and authorised the request;
		// the Origin of a browser page is not this endpoint's concern.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	if p := strings.TrimSpace(resp.Header.Get(headerProtocolVersion)); p != "" {
		upgrader.Subprotocols = []string{tunnelPrefix + p}
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered the client.
		log.Debug("WebSocket handshake failed", "err", err)
		return nil
	}
	log.Info("serving stream over WebSocket", "protocol", ws.Subprotocol())
	tunnel := portforward.NewTunnelingConnectionWithLogger(klog.FromContext(ctx), ws)
	splice(tunnel, backend, closeBackend)
	return nil
}

// splice copies both ways between the client's tunnel and the runtime's
// connection until either side ends, then closes both.
func splice(tunnel, backend io.ReadWriteCloser, closeBackend func() error) {
	closeBoth := func() {
		_ = tunnel.Close() // once-only: a close frame, then the connection
		_ = closeBackend()
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		defer closeBoth()
		_, _ = io.Copy(backend, tunnel)
	})
	_, _ = io.Copy(tunnel, backend)
	closeBoth()
	wg.Wait()
}
