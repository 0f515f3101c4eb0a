package streaming

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"golang.org/x/net/websocket"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
)

// logBufferSize gathers a log's lines into messages of up to this size
// between flushes.
const logBufferSize = 32 << 10

// ServeLog serves a WebSocket request for a container's log (see
// IsWebSocket): write produces the log into out, calling flush where an
// HTTP response would be flushed, until it is done or ctx ends (the
// client went away). The subprotocols are upstream's: binary.k8s.io and
// none send binary messages, base64.binary.k8s.io base64 text messages;
// an empty message opens the stream and a close frame ends it.
//
// wsstream.Reader implements the same protocols, but its Copy waits for
// the connection handler forever when the handshake fails (a client gone
// in the middle of it), so the loop is written here on the same
// golang.org/x/net/websocket server with wsstream's protocol table.
// It returns a Status error only when nothing was sent to the client.
func ServeLog(w http.ResponseWriter, r *http.Request, log *slog.Logger, write func(ctx context.Context, out io.Writer, flush func()) error) error {
	protocols := wsstream.NewDefaultReaderProtocols()
	protocol, ok := negotiate(requestedProtocols(r), mapKeys(protocols))
	if !ok {
		return Check(r, "log")
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	hw, err := hijack(w, cancel)
	if err != nil {
		return err
	}
	srv := websocket.Server{
		Handshake: func(cfg *websocket.Config, _ *http.Request) error {
			cfg.Protocol = []string{protocol}
			return nil
		},
		Handler: func(ws *websocket.Conn) {
			log := log.With("protocol", protocol)
			log.Info("serving log over WebSocket")
			var wg sync.WaitGroup
			defer wg.Wait()
			defer ws.Close() // a close frame, then the connection: the reader below ends
			// The client sends nothing but control frames; reading answers
			// its pings and notices when it goes.
			wg.Go(func() {
				defer cancel()
				var discard []byte
				for websocket.Message.Receive(ws, &discard) == nil {
				}
			})
			mw := &messageWriter{ws: ws, base64: !protocols[protocol].Binary}
			if _, err := mw.Write(nil); err != nil {
				return
			}
			bw := bufio.NewWriterSize(mw, logBufferSize)
			if err := write(ctx, bw, func() { _ = bw.Flush() }); err != nil {
				log.Debug("log stream ended", "err", err)
			}
			_ = bw.Flush()
		},
	}
	srv.ServeHTTP(hw, r)
	return nil
}

// messageWriter sends each write as one WebSocket message.
type messageWriter struct {
	ws     *websocket.Conn
	base64 bool
}

func (m *messageWriter) Write(p []byte) (int, error) {
	var err error
	if m.base64 {
		err = websocket.Message.Send(m.ws, base64.StdEncoding.EncodeToString(p))
	} else {
		err = websocket.Message.Send(m.ws, p)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}
