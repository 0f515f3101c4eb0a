package streaming

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	rcconst "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"
)

var testLog = slog.New(slog.DiscardHandler)

// wrapped hides the server's http.Hijacker behind Unwrap, as the API
// server's response recorder does.
type wrapped struct{ http.ResponseWriter }

func (w wrapped) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serve runs h as an endpoint that answers returned errors with their
// Status, as the agent does; done is closed each time h returns.
func serve(t *testing.T, h func(w http.ResponseWriter, r *http.Request) error) (srv *httptest.Server, done chan struct{}) {
	done = make(chan struct{}, 16)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		if err := h(wrapped{w}, r); err != nil {
			var se apierrors.APIStatus
			if !errors.As(err, &se) {
				t.Errorf("not a Status: %v", err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(int(se.Status().Code))
			_ = json.NewEncoder(w).Encode(se.Status())
		}
	}))
	t.Cleanup(srv.Close)
	return srv, done
}

func translator(t *testing.T, target string, opts Options) (*httptest.Server, chan struct{}) {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, func(w http.ResponseWriter, r *http.Request) error {
		return ServeRemoteCommand(w, r, u, &http.Transport{}, opts, testLog)
	})
}

func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") + "/" }

func waitDone(t *testing.T, done chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not return")
	}
}

func TestCheck(t *testing.T) {
	cases := []struct {
		sub       string
		protocols []string
		ok        bool
	}{
		{"exec", []string{"v5.channel.k8s.io"}, true},
		{"exec", []string{"v4.channel.k8s.io"}, true},
		{"exec", []string{"v4.base64.channel.k8s.io"}, true},
		{"attach", []string{"channel.k8s.io"}, true},
		{"exec", []string{"base64.channel.k8s.io"}, true},
		{"exec", nil, true},
		{"exec", []string{"bogus", "channel.k8s.io"}, true},
		{"exec", []string{"v3.channel.k8s.io"}, false},
		{"exec", []string{"binary.k8s.io"}, false},
		{"log", []string{"binary.k8s.io"}, true},
		{"log", []string{"base64.binary.k8s.io"}, true},
		{"log", nil, true},
		{"log", []string{"channel.k8s.io"}, false},
		{"portforward", []string{"SPDY/3.1+portforward.k8s.io"}, true},
		{"portforward", []string{"portforward.k8s.io"}, false},
		{"portforward", nil, false},
		{"proxy", nil, false},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		if len(c.protocols) > 0 {
			r.Header.Set("Sec-WebSocket-Protocol", strings.Join(c.protocols, ", "))
		}
		if !IsWebSocket(r) {
			t.Fatal("not a WebSocket request")
		}
		err := Check(r, c.sub)
		if (err == nil) != c.ok {
			t.Errorf("%s %v: %v", c.sub, c.protocols, err)
		}
		if err != nil && !apierrors.IsBadRequest(err) {
			t.Errorf("%s %v: not a BadRequest Status: %v", c.sub, c.protocols, err)
		}
	}
}

// runExec runs a session the way kubectl does, with client-go's
// WebSocket executor.
func runExec(t *testing.T, protocol, cmd string, opts Options, so remotecommand.StreamOptions, extra ...string) (string, string, error) {
	rt := newFakeRuntime(t)
	srv, done := translator(t, rt.execURL(cmd, opts, extra...), opts)
	e, err := remotecommand.NewWebSocketExecutorForProtocols(&rest.Config{Host: srv.URL}, http.MethodGet, srv.URL+"/", protocol)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if opts.Stdout {
		so.Stdout = &stdout
	}
	if opts.Stderr {
		so.Stderr = &stderr
	}
	so.Tty = opts.TTY
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = e.StreamWithContext(ctx, so)
	waitDone(t, done)
	return stdout.String(), stderr.String(), err
}

func TestRemoteCommandV5(t *testing.T) {
	v5 := rcconst.StreamProtocolV5Name
	t.Run("output", func(t *testing.T) {
		out, errOut, err := runExec(t, v5, "echo", Options{Stdout: true, Stderr: true}, remotecommand.StreamOptions{})
		if err != nil || out != "out\n" || errOut != "err\n" {
			t.Fatalf("stdout %q stderr %q err %v", out, errOut, err)
		}
	})
	t.Run("stdin ends with the close signal", func(t *testing.T) {
		in := "hello\nworld\n"
		out, _, err := runExec(t, v5, "cat", Options{Stdin: true, Stdout: true, Stderr: true}, remotecommand.StreamOptions{Stdin: strings.NewReader(in)})
		if err != nil || out != in {
			t.Fatalf("stdout %q err %v", out, err)
		}
	})
	t.Run("exit code", func(t *testing.T) {
		_, _, err := runExec(t, v5, "exit", Options{Stdout: true, Stderr: true}, remotecommand.StreamOptions{}, "code", "3")
		var exitErr exec.CodeExitError
		if !errors.As(err, &exitErr) || exitErr.ExitStatus() != 3 {
			t.Fatalf("want exit code 3, got %#v", err)
		}
	})
	t.Run("terminal resize", func(t *testing.T) {
		sizes := make(chan remotecommand.TerminalSize, 1)
		sizes <- remotecommand.TerminalSize{Width: 80, Height: 24}
		close(sizes)
		out, _, err := runExec(t, v5, "resize", Options{Stdin: true, Stdout: true, TTY: true},
			remotecommand.StreamOptions{Stdin: strings.NewReader(""), TerminalSizeQueue: sizeQueue(sizes)})
		if err != nil || out != "80x24\n" {
			t.Fatalf("stdout %q err %v", out, err)
		}
	})
}

func TestRemoteCommandV4ExitCode(t *testing.T) {
	_, _, err := runExec(t, rcconst.StreamProtocolV4Name, "exit", Options{Stdout: true}, remotecommand.StreamOptions{}, "code", "7")
	var exitErr exec.CodeExitError
	if !errors.As(err, &exitErr) || exitErr.ExitStatus() != 7 {
		t.Fatalf("want exit code 7, got %#v", err)
	}
}

type message struct {
	channel byte
	data    string
}

// rawSession dials with protocol (none if "") and returns what the
// server sends until it closes, decoded per the protocol's framing.
func rawSession(t *testing.T, protocol, cmd string, opts Options, extra ...string) (string, []message) {
	t.Helper()
	rt := newFakeRuntime(t)
	srv, done := translator(t, rt.execURL(cmd, opts, extra...), opts)
	d := gwebsocket.Dialer{HandshakeTimeout: 5 * time.Second}
	if protocol != "" {
		d.Subprotocols = []string{protocol}
	}
	ws, resp, err := d.Dial(wsURL(srv), nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	defer ws.Close()
	var msgs []message
	for {
		kind, b, err := ws.ReadMessage()
		if err != nil {
			var ce *gwebsocket.CloseError
			if !errors.As(err, &ce) || ce.Code != gwebsocket.CloseNormalClosure {
				t.Fatalf("read: %v", err)
			}
			break
		}
		if len(b) == 0 {
			t.Fatal("a message without a channel")
		}
		m := message{channel: b[0], data: string(b[1:])}
		if strings.Contains(protocol, "base64") {
			if kind != gwebsocket.TextMessage {
				t.Fatalf("base64 protocol sent message type %d", kind)
			}
			m.channel -= '0'
			dec, err := base64.StdEncoding.DecodeString(m.data)
			if err != nil {
				t.Fatalf("message %q: %v", b, err)
			}
			m.data = string(dec)
		} else if kind != gwebsocket.BinaryMessage {
			t.Fatalf("binary protocol sent message type %d", kind)
		}
		msgs = append(msgs, m)
	}
	waitDone(t, done)
	return ws.Subprotocol(), msgs
}

func channel(msgs []message, ch byte) string {
	var s strings.Builder
	for _, m := range msgs {
		if m.channel == ch {
			s.WriteString(m.data)
		}
	}
	return s.String()
}

func TestRemoteCommandProtocols(t *testing.T) {
	both := Options{Stdout: true, Stderr: true}
	for _, protocol := range []string{"channel.k8s.io", "base64.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io", "v5.channel.k8s.io", ""} {
		t.Run("success "+protocol, func(t *testing.T) {
			got, msgs := rawSession(t, protocol, "echo", both)
			if got != protocol {
				t.Fatalf("negotiated %q", got)
			}
			// The session opens with an empty message on stdout.
			if len(msgs) == 0 || msgs[0] != (message{channel: 1}) {
				t.Fatalf("first message %v", msgs)
			}
			if channel(msgs, 1) != "out\n" || channel(msgs, 2) != "err\n" {
				t.Fatalf("messages %v", msgs)
			}
			errCh := channel(msgs, 3)
			if strings.HasPrefix(protocol, "v") {
				var st metav1.Status
				if err := json.Unmarshal([]byte(errCh), &st); err != nil || st.Status != metav1.StatusSuccess {
					t.Fatalf("status %q: %v", errCh, err)
				}
			} else if errCh != "" {
				t.Fatalf("error channel of a successful v1 session: %q", errCh)
			}
		})
		t.Run("exit code "+protocol, func(t *testing.T) {
			_, msgs := rawSession(t, protocol, "exit", both, "code", "3")
			errCh := channel(msgs, 3)
			if !strings.HasPrefix(protocol, "v") {
				if !strings.Contains(errCh, "command terminated with non-zero exit code") || !strings.Contains(errCh, "exit code 3") {
					t.Fatalf("error channel %q", errCh)
				}
				return
			}
			var st metav1.Status
			if err := json.Unmarshal([]byte(errCh), &st); err != nil {
				t.Fatalf("status %q: %v", errCh, err)
			}
			if st.Status != metav1.StatusFailure || st.Reason != rcconst.NonZeroExitCodeReason || st.Details == nil ||
				len(st.Details.Causes) != 1 || st.Details.Causes[0].Type != rcconst.ExitCodeCauseType || st.Details.Causes[0].Message != "3" {
				t.Fatalf("status %+v", st)
			}
		})
	}
	t.Run("stderr only opens on stderr", func(t *testing.T) {
		_, msgs := rawSession(t, "v4.channel.k8s.io", "exit", Options{Stderr: true}, "code", "1")
		if len(msgs) == 0 || msgs[0] != (message{channel: 2}) {
			t.Fatalf("messages %v", msgs)
		}
	})
}

func TestRemoteCommandRefusesBeforeUpgrade(t *testing.T) {
	rt := newFakeRuntime(t)
	srv, _ := translator(t, rt.execURL("echo", Options{Stdout: true}), Options{Stdout: true})
	d := gwebsocket.Dialer{Subprotocols: []string{"v3.channel.k8s.io"}}
	_, resp, err := d.Dial(wsURL(srv), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("want 400, got %v %v", resp, err)
	}
	var st metav1.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.Reason != metav1.StatusReasonBadRequest || !strings.Contains(st.Message, "v3.channel.k8s.io") {
		t.Fatalf("status %+v, %v", st, err)
	}
}

func TestRemoteCommandRuntimeRefuses(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	defer gone.Close()
	srv, done := translator(t, gone.URL+"/exec/expired", Options{Stdout: true})
	ws, _, err := gwebsocket.DefaultDialer.Dial(wsURL(srv), http.Header{"Sec-WebSocket-Protocol": {"v5.channel.k8s.io"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var last []byte
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			break
		}
		last = b
	}
	var st metav1.Status
	if len(last) == 0 || last[0] != 3 || json.Unmarshal(last[1:], &st) != nil || st.Status != metav1.StatusFailure {
		t.Fatalf("last message %q", last)
	}
	waitDone(t, done)
}

func TestRemoteCommandClientGoes(t *testing.T) {
	rt := newFakeRuntime(t)
	opts := Options{Stdin: true, Stdout: true}
	srv, done := translator(t, rt.execURL("sleep", opts), opts)
	ws, _, err := gwebsocket.DefaultDialer.Dial(wsURL(srv), http.Header{"Sec-WebSocket-Protocol": {"v4.channel.k8s.io"}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-rt.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the runtime session did not start")
	}
	_ = ws.Close()
	select {
	case <-rt.gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the runtime session outlived the client")
	}
	waitDone(t, done)
}

func logServer(t *testing.T, write func(ctx context.Context, out io.Writer, flush func()) error) (*httptest.Server, chan struct{}) {
	return serve(t, func(w http.ResponseWriter, r *http.Request) error { return ServeLog(w, r, testLog, write) })
}

func readAll(t *testing.T, ws *gwebsocket.Conn, wantType int) []string {
	t.Helper()
	var msgs []string
	for {
		kind, b, err := ws.ReadMessage()
		if err != nil {
			var ce *gwebsocket.CloseError
			if !errors.As(err, &ce) || ce.Code != gwebsocket.CloseNormalClosure {
				t.Fatalf("read: %v", err)
			}
			return msgs
		}
		if kind != wantType {
			t.Fatalf("message type %d", kind)
		}
		msgs = append(msgs, string(b))
	}
}

func TestServeLog(t *testing.T) {
	write := func(_ context.Context, out io.Writer, flush func()) error {
		_, _ = io.WriteString(out, "line 1\n")
		flush()
		_, _ = io.WriteString(out, "line 2\n")
		return nil
	}
	for _, protocol := range []string{"binary.k8s.io", "base64.binary.k8s.io", ""} {
		t.Run(protocol, func(t *testing.T) {
			srv, done := logServer(t, write)
			d := gwebsocket.Dialer{}
			if protocol != "" {
				d.Subprotocols = []string{protocol}
			}
			ws, _, err := d.Dial(wsURL(srv), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			if ws.Subprotocol() != protocol {
				t.Fatalf("negotiated %q", ws.Subprotocol())
			}
			kind := gwebsocket.BinaryMessage
			if protocol == "base64.binary.k8s.io" {
				kind = gwebsocket.TextMessage
			}
			msgs := readAll(t, ws, kind)
			if len(msgs) == 0 || msgs[0] != "" {
				t.Fatalf("the stream does not open with an empty message: %q", msgs)
			}
			got := strings.Join(msgs, "")
			if kind == gwebsocket.TextMessage {
				var dec []string
				for _, m := range msgs {
					b, err := base64.StdEncoding.DecodeString(m)
					if err != nil {
						t.Fatal(err)
					}
					dec = append(dec, string(b))
				}
				got = strings.Join(dec, "")
			}
			if got != "line 1\nline 2\n" {
				t.Fatalf("log %q", got)
			}
			waitDone(t, done)
		})
	}
}

func TestServeLogFollowEndsWithClient(t *testing.T) {
	ended := make(chan error, 1)
	srv, done := logServer(t, func(ctx context.Context, out io.Writer, flush func()) error {
		_, _ = io.WriteString(out, "first\n")
		flush()
		<-ctx.Done() // a follow with nothing more to say
		ended <- ctx.Err()
		return nil
	})
	ws, _, err := gwebsocket.DefaultDialer.Dial(wsURL(srv), http.Header{"Sec-WebSocket-Protocol": {"binary.k8s.io"}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if string(b) == "first\n" {
			break
		}
	}
	_ = ws.WriteControl(gwebsocket.CloseMessage, gwebsocket.FormatCloseMessage(gwebsocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = ws.Close()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the log writer outlived the client")
	}
	waitDone(t, done)
}

func TestServeLogRefusesBeforeUpgrade(t *testing.T) {
	srv, _ := logServer(t, func(context.Context, io.Writer, func()) error { return nil })
	d := gwebsocket.Dialer{Subprotocols: []string{"v5.channel.k8s.io"}}
	_, resp, err := d.Dial(wsURL(srv), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("want 400, got %v %v", resp, err)
	}
}

// echoSPDY stands in for the runtime's port-forward endpoint: it accepts
// the SPDY upgrade and echoes the raw bytes of the session.
func echoSPDY(t *testing.T) (*httptest.Server, chan struct{}) {
	closed := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Upgrade") != "SPDY/3.1" || r.Header.Get(headerProtocolVersion) != "portforward.k8s.io" {
			http.Error(w, "bad upgrade", http.StatusBadRequest)
			return
		}
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "SPDY/3.1")
		w.Header().Set(headerProtocolVersion, "portforward.k8s.io")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = io.Copy(conn, brw)
		closed <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return srv, closed
}

func TestServePortForward(t *testing.T) {
	backend, closed := echoSPDY(t)
	u, _ := url.Parse(backend.URL + "/portforward/token")
	srv, done := serve(t, func(w http.ResponseWriter, r *http.Request) error {
		return ServePortForward(w, r, u, &http.Transport{}, testLog)
	})
	d := gwebsocket.Dialer{Subprotocols: []string{"SPDY/3.1+portforward.k8s.io"}}
	ws, _, err := d.Dial(wsURL(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ws.Subprotocol() != "SPDY/3.1+portforward.k8s.io" {
		t.Fatalf("negotiated %q", ws.Subprotocol())
	}
	tunnel := portforward.NewTunnelingConnection("test", ws)
	if _, err := tunnel.Write([]byte("spdy bytes")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("spdy bytes"))
	if _, err := io.ReadFull(bufio.NewReader(tunnel), got); err != nil || string(got) != "spdy bytes" {
		t.Fatalf("echo %q, %v", got, err)
	}
	_ = tunnel.Close()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the runtime connection outlived the tunnel")
	}
	waitDone(t, done)
}

func TestServePortForwardRuntimeRefuses(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	defer gone.Close()
	u, _ := url.Parse(gone.URL + "/portforward/expired")
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) error {
		return ServePortForward(w, r, u, &http.Transport{}, testLog)
	})
	d := gwebsocket.Dialer{Subprotocols: []string{"SPDY/3.1+portforward.k8s.io"}}
	_, resp, err := d.Dial(wsURL(srv), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("want 500, got %v %v", resp, err)
	}
}

var _ net.Conn = (*closeNotifyConn)(nil)
