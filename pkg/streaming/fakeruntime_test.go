package streaming

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"
	rcconst "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/tools/remotecommand"
)

// fakeRuntime is a SPDY remotecommand server (v4.channel.k8s.io, as
// containerd 1.6 serves it). The query says which streams the client
// opens (stdin, stdout, stderr, tty) and what the "command" does:
//
//	echo    writes "out\n" to stdout and "err\n" to stderr, exits 0
//	cat     copies stdin to stdout until EOF, exits 0
//	exit    exits with the code in "code"
//	resize  writes the first terminal size it is sent to stdout as WxH
//	sleep   reports on started, waits until the client goes, reports on gone
type fakeRuntime struct {
	*httptest.Server
	started, gone chan struct{}
}

func newFakeRuntime(t *testing.T) *fakeRuntime {
	f := &fakeRuntime{started: make(chan struct{}, 1), gone: make(chan struct{}, 1)}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeRuntime) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if _, err := httpstream.Handshake(r, w, []string{rcconst.StreamProtocolV4Name}); err != nil {
		return
	}
	streams := make(chan httpstream.Stream, 8)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(s httpstream.Stream, _ <-chan struct{}) error {
		streams <- s
		return nil
	})
	if conn == nil {
		return
	}
	defer conn.Close()
	want := 1 // error
	for _, k := range []string{"stdin", "stdout", "stderr", "tty"} {
		if q.Get(k) == "1" {
			want++
		}
	}
	byType := map[string]httpstream.Stream{}
	timeout := time.After(10 * time.Second)
	for len(byType) < want {
		select {
		case s := <-streams:
			byType[s.Headers().Get("streamType")] = s
		case <-timeout:
			return
		}
	}
	out, errOut := byType["stdout"], byType["stderr"]
	status := metav1.Status{Status: metav1.StatusSuccess}
	switch q.Get("cmd") {
	case "echo":
		_, _ = io.WriteString(out, "out\n")
		_, _ = io.WriteString(errOut, "err\n")
	case "cat":
		_, _ = io.Copy(out, byType["stdin"])
	case "exit":
		status = metav1.Status{Status: metav1.StatusFailure, Reason: rcconst.NonZeroExitCodeReason,
			Message: "command terminated with exit code " + q.Get("code"),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: rcconst.ExitCodeCauseType, Message: q.Get("code")}}}}
	case "resize":
		var size remotecommand.TerminalSize
		if err := json.NewDecoder(byType["resize"]).Decode(&size); err == nil {
			_, _ = fmt.Fprintf(out, "%dx%d\n", size.Width, size.Height)
		}
	case "sleep":
		f.started <- struct{}{}
		<-conn.CloseChan()
		f.gone <- struct{}{}
		return
	}
	for _, s := range []httpstream.Stream{out, errOut} {
		if s != nil {
			_ = s.Close()
		}
	}
	b, _ := json.Marshal(status)
	_, _ = byType["error"].Write(b)
	_ = byType["error"].Close()
	select {
	case <-conn.CloseChan():
	case <-time.After(5 * time.Second):
	}
}

// execURL is the fake runtime's URL for a session with these streams.
func (f *fakeRuntime) execURL(cmd string, opts Options, extra ...string) string {
	u := f.URL + "/exec?cmd=" + cmd
	for k, v := range map[string]bool{"stdin": opts.Stdin, "stdout": opts.Stdout, "stderr": opts.Stderr, "tty": opts.TTY} {
		if v {
			u += "&" + k + "=1"
		}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		u += "&" + extra[i] + "=" + extra[i+1]
	}
	return u
}
