package stream

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/crilog"
	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/streaming"
)

// ServePod serves a pod's streaming subresource: log here, exec, attach
// and portforward in exec.go.
func (s *Server) ServePod(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, subresource string) error {
	if pod.Spec.NodeName != s.node {
		return apierrors.NewServiceUnavailable(fmt.Sprintf("the node agent of node %q is not reachable from this server", pod.Spec.NodeName))
	}
	pod = s.static.StaticOf(pod)
	if subresource != "log" {
		return s.serveStream(w, r, pod, subresource)
	}
	return s.serveLog(w, r, pod)
}

// logOptions are the query parameters of pods/log that the agent honours.
type logOptions struct {
	crilog.Options
	container string
	follow    bool
	previous  bool
	limit     int64 // 0 = no limit
}

func parseLogOptions(r *http.Request, pod *corev1.Pod) (*logOptions, error) {
	q := r.URL.Query()
	o := &logOptions{Options: crilog.Options{Tail: -1, Timestamps: q.Get("timestamps") == "true"}, container: q.Get("container"), follow: q.Get("follow") == "true", previous: q.Get("previous") == "true"}
	var err error
	if v := q.Get("tailLines"); v != "" {
		if o.Tail, err = strconv.ParseInt(v, 10, 64); err != nil || o.Tail < 0 {
			return nil, apierrors.NewBadRequest("tailLines must be a non-negative integer")
		}
	}
	if v := q.Get("limitBytes"); v != "" {
		if o.limit, err = strconv.ParseInt(v, 10, 64); err != nil || o.limit <= 0 {
			return nil, apierrors.NewBadRequest("limitBytes must be a positive integer")
		}
	}
	if v := q.Get("sinceSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return nil, apierrors.NewBadRequest("sinceSeconds must be a positive integer")
		}
		o.Since = time.Now().Add(-time.Duration(n) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		if o.Since, err = time.Parse(time.RFC3339, v); err != nil {
			return nil, apierrors.NewBadRequest("sinceTime must be RFC 3339")
		}
	}
	if o.container, err = podContainer(pod, o.container); err != nil {
		return nil, err
	}
	return o, nil
}

// serveLog streams a container's log file in the CRI format
// ("<time> <stream> <P|F> <text>") as plain text.
func (s *Server) serveLog(w http.ResponseWriter, r *http.Request, pod *corev1.Pod) error {
	o, err := parseLogOptions(r, pod)
	if err != nil {
		return err
	}
	dir := filepath.Join(podrun.LogDir(s.dataDir, pod), o.container)
	attempts := logAttempts(dir)
	if o.previous {
		if len(attempts) < 2 {
			return apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", o.container, pod.Name))
		}
		attempts = attempts[:len(attempts)-1]
	}
	if len(attempts) == 0 {
		return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", o.container, pod.Name))
	}
	attempt := attempts[len(attempts)-1]
	f, err := os.Open(filepath.Join(dir, strconv.Itoa(attempt)+".log"))
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	defer f.Close()
	write := func(ctx context.Context, w io.Writer, flush func()) error {
		return s.writeLog(ctx, f, w, flush, pod, o, attempt)
	}
	if streaming.IsWebSocket(r) {
		return streaming.ServeLog(w, r, s.log.With("pod", pod.Namespace+"/"+pod.Name, "subresource", "log"), write)
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	return write(r.Context(), w, func() { flush(w) })
}

// writeLog writes the log lines the options select to w, then follows
// the file if asked.
func (s *Server) writeLog(ctx context.Context, f *os.File, w io.Writer, flush func(), pod *corev1.Pod, o *logOptions, attempt int) error {
	out := &limitWriter{w: w, left: o.limit}
	lines, err := crilog.ReadLines(f, o.Options)
	if err != nil {
		return nil
	}
	for _, l := range lines {
		if _, err := out.Write(l); err != nil {
			return nil
		}
	}
	flush()
	if !o.follow || o.previous {
		return nil
	}
	return s.followLog(ctx, f, out, flush, pod, o, attempt)
}

// followLog keeps sending what the container writes until it exits (or a
// newer attempt starts), the client goes, or the output limit is hit.
func (s *Server) followLog(ctx context.Context, f *os.File, out *limitWriter, flush func(), pod *corev1.Pod, o *logOptions, attempt int) error {
	rd := bufio.NewReader(f)
	var pending []byte
	for {
		line, err := rd.ReadBytes('\n')
		if err == nil {
			if text, ok := crilog.ParseLine(append(pending, line...), o.Options); ok {
				if _, err := out.Write(text); err != nil {
					return nil
				}
				flush()
			}
			pending = nil
			continue
		}
		pending = append(pending, line...)
		if !s.containerRunning(ctx, pod, o.container, attempt) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *Server) containerRunning(ctx context.Context, pod *corev1.Pod, name string, attempt int) bool {
	rt := s.runtime()
	if rt == nil {
		return false
	}
	resp, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		LabelSelector: map[string]string{podrun.LabelPodUID: string(pod.UID), podrun.LabelContainerName: name},
	}})
	if err != nil {
		return false
	}
	for _, c := range resp.Containers {
		if int(c.Metadata.Attempt) == attempt {
			return c.State == runtimeapi.ContainerState_CONTAINER_RUNNING || c.State == runtimeapi.ContainerState_CONTAINER_CREATED
		}
	}
	return false
}

// logAttempts lists the attempt numbers with a log file, ascending.
func logAttempts(dir string) []int {
	entries, _ := os.ReadDir(dir)
	var out []int
	for _, e := range entries {
		if n, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".log")); err == nil && strings.HasSuffix(e.Name(), ".log") {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

type limitWriter struct {
	w    io.Writer
	left int64 // 0 = unlimited
	used int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.left > 0 {
		room := l.left - l.used
		if room <= 0 {
			return 0, io.EOF
		}
		if int64(len(p)) > room {
			p = p[:room]
		}
	}
	n, err := l.w.Write(p)
	l.used += int64(n)
	return n, err
}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}
