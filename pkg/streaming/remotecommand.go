package streaming

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	rcconst "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"
)

// Options are the streams an exec or attach request asked for.
type Options struct {
	Stdin, Stdout, Stderr, TTY bool
}

const (
	// v4Base64Protocol is the base64 form of v4.channel.k8s.io the kubelet
	// serves; v5 has none.
	v4Base64Protocol = "v4.base64.channel.k8s.io"

	// idleTimeout ends a session on which nothing moved for this long,
	// the kubelet's and upstream API server's default.
	idleTimeout = 4 * time.Hour

	// statusWriteTimeout bounds the write of the final status.
	statusWriteTimeout = 10 * time.Second

	// spdyPingPeriod keeps the runtime's SPDY connection alive through
	// idle sessions, as client-go's executor does.
	spdyPingPeriod = 5 * time.Second
)

// Channel numbers of the channel.k8s.io protocols.
const (
	chanStdin = iota
	chanStdout
	chanStderr
	chanError
	chanResize
)

// channelProtocols maps every exec/attach subprotocol served to the
// channels of a session with opts (none with nil opts: negotiation only).
// Channels nobody reads are ignored, so a client writing to them cannot
// stall the connection's reader.
func channelProtocols(opts *Options) map[string]wsstream.ChannelProtocolConfig {
	var channels []wsstream.ChannelType
	if opts != nil {
		channels = make([]wsstream.ChannelType, 5)
		channels[chanStdin] = pick(opts.Stdin, wsstream.ReadChannel)
		channels[chanStdout] = pick(opts.Stdout, wsstream.WriteChannel)
		channels[chanStderr] = pick(opts.Stderr, wsstream.WriteChannel)
		channels[chanError] = wsstream.WriteChannel
		channels[chanResize] = pick(opts.TTY, wsstream.ReadChannel)
	}
	// "", channel.k8s.io and base64.channel.k8s.io.
	protocols := wsstream.NewDefaultChannelProtocols(channels)
	protocols[rcconst.StreamProtocolV4Name] = wsstream.ChannelProtocolConfig{Binary: true, Channels: channels}
	protocols[v4Base64Protocol] = wsstream.ChannelProtocolConfig{Binary: false, Channels: channels}
	protocols[rcconst.StreamProtocolV5Name] = wsstream.ChannelProtocolConfig{Binary: true, Channels: channels}
	return protocols
}

func pick(used bool, t wsstream.ChannelType) wsstream.ChannelType {
	if used {
		return t
	}
	return wsstream.IgnoreChannel
}

// statusAsJSON tells whether the protocol ends every session with a
// metav1.Status on the error channel (v4 and later); older ones write an
// error text there on failure only.
func statusAsJSON(protocol string) bool {
	switch protocol {
	case rcconst.StreamProtocolV4Name, v4Base64Protocol, rcconst.StreamProtocolV5Name:
		return true
	}
	return false
}

// ServeRemoteCommand serves a WebSocket exec or attach request (see
// IsWebSocket) by running the session against target, the runtime's SPDY
// streaming URL for it, reached through transport. It returns a Status
// error only when nothing was sent to the client; once the connection is
// upgraded, the outcome goes on the error channel.
func ServeRemoteCommand(w http.ResponseWriter, r *http.Request, target *url.URL, transport http.RoundTripper, opts Options, log *slog.Logger) error {
	if err := Check(r, "exec"); err != nil {
		return err
	}
	rt, err := spdy.NewRoundTripperWithConfig(spdy.RoundTripperConfig{UpgradeTransport: transport, PingPeriod: spdyPingPeriod})
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	// The runtime's URL is single-use and needs no credentials; a
	// redirect would be a runtime gone wrong.
	executor, err := remotecommand.NewSPDYExecutorRejectRedirects(rt, rt, http.MethodPost, target)
	if err != nil {
		return apierrors.NewInternalError(err)
	}

	ctx, cancel := context.WithCancel(klogContext(r.Context(), log))
	defer cancel()
	hw, err := hijack(w, cancel)
	if err != nil {
		return err
	}
	conn := wsstream.NewConn(channelProtocols(&opts))
	conn.SetIdleTimeout(idleTimeout)
	protocol, streams, err := conn.Open(hw, r.WithContext(ctx))
	if err != nil {
		// The library has answered the failed handshake and closed the
		// connection.
		log.Debug("WebSocket handshake failed", "err", err)
		return nil
	}
	var wg sync.WaitGroup
	defer func() {
		cancel()
		_ = conn.Close() // ends the channels' readers and the resize reader
		wg.Wait()
	}()
	log = log.With("protocol", protocol)
	log.Info("serving stream over WebSocket")

	// An empty message on the lowest writable channel tells the client
	// that the session is established, as the kubelet does.
	first := chanError
	switch {
	case opts.Stdout:
		first = chanStdout
	case opts.Stderr:
		first = chanStderr
	}
	if _, err := streams[first].Write(nil); err != nil {
		log.Debug("WebSocket session ended at its start", "err", err)
		return nil
	}

	so := remotecommand.StreamOptions{Tty: opts.TTY}
	if opts.Stdin {
		so.Stdin = streams[chanStdin]
	}
	if opts.Stdout {
		so.Stdout = streams[chanStdout]
	}
	if opts.Stderr {
		so.Stderr = streams[chanStderr]
	}
	if opts.TTY {
		sizes := make(chan remotecommand.TerminalSize)
		wg.Go(func() { readResizes(ctx, streams[chanResize], sizes) })
		so.TerminalSizeQueue = sizeQueue(sizes)
	}
	err = executor.StreamWithContext(ctx, so)
	if ctx.Err() != nil {
		log.Debug("WebSocket session ended by the client", "err", err)
		return nil
	}
	st := sessionStatus(err)
	if st.ErrStatus.Status != metav1.StatusSuccess {
		log.Debug("WebSocket session failed", "reason", st.ErrStatus.Reason, "err", st.ErrStatus.Message)
	}
	if err := writeStatus(conn, streams[chanError], protocol, st); err != nil {
		log.Debug("writing the session's status", "err", err)
	}
	return nil
}

// sessionStatus is what the error channel reports for the executor's
// outcome, as upstream's stream translator has it.
func sessionStatus(err error) *apierrors.StatusError {
	if err == nil {
		return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusSuccess}}
	}
	var exitErr exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		return &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure,
			Reason: rcconst.NonZeroExitCodeReason,
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{
				Type:    rcconst.ExitCodeCauseType,
				Message: fmt.Sprintf("%d", exitErr.ExitStatus()),
			}}},
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", exitErr),
		}}
	}
	var statusErr *apierrors.StatusError
	if errors.As(err, &statusErr) {
		return statusErr
	}
	return apierrors.NewInternalError(err)
}

// writeStatus ends the session on the error channel: a Status as JSON for
// v4 and later, the error's text on failure for the older protocols.
func writeStatus(conn *wsstream.Conn, ch io.Writer, protocol string, st *apierrors.StatusError) error {
	var msg []byte
	switch {
	case statusAsJSON(protocol):
		b, err := json.Marshal(st.Status())
		if err != nil {
			return err
		}
		msg = b
	case st.ErrStatus.Status == metav1.StatusSuccess:
		return nil
	default:
		msg = []byte(st.Error())
	}
	conn.SetWriteDeadline(statusWriteTimeout)
	_, err := ch.Write(msg)
	return err
}

// readResizes turns the resize channel's JSON sizes into the executor's
// terminal size queue until the channel or the session ends.
func readResizes(ctx context.Context, r io.Reader, sizes chan<- remotecommand.TerminalSize) {
	defer close(sizes)
	dec := json.NewDecoder(r)
	for {
		var size remotecommand.TerminalSize
		if err := dec.Decode(&size); err != nil {
			return
		}
		select {
		case sizes <- size:
		case <-ctx.Done():
			return
		}
	}
}

// sizeQueue is remotecommand.TerminalSizeQueue over readResizes' channel.
type sizeQueue <-chan remotecommand.TerminalSize

func (q sizeQueue) Next() *remotecommand.TerminalSize {
	size, ok := <-q
	if !ok {
		return nil
	}
	return &size
}
