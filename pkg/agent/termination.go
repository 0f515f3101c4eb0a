package agent

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/crilog"
)

// Upstream's limits on what a terminated container may report: the file
// is read up to 4 KiB; the log fallback takes at most its last 80 lines and
// 2 KiB.
const (
	maxTerminationMessage    = 4096
	maxTerminationLogLines   = 80
	maxTerminationLogMessage = 2048
)

// terminationMessageMount gives the container a file of its own, writable
// by any user, at its terminationMessagePath; a new one per attempt so an
// old attempt's message is not shown for a new exit.
func (a *Agent) terminationMessageMount(pod *corev1.Pod, c *corev1.Container, attempt uint32) (*runtimeapi.Mount, error) {
	if c.TerminationMessagePath == "" {
		return nil, nil
	}
	dir := filepath.Join(a.podDir(pod), "containers", c.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, strconv.Itoa(int(attempt)))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o666)
	if err != nil {
		return nil, err
	}
	f.Close()
	// The umask took some bits: a container running as another user
	// must still be able to write its message.
	if err := os.Chmod(path, 0o666); err != nil {
		return nil, err
	}
	return &runtimeapi.Mount{ContainerPath: c.TerminationMessagePath, HostPath: path}, nil
}

// terminationMessage is what an exited container left for its status:
// the file at its terminationMessagePath, or with FallbackToLogsOnError
// and a failure, the end of its log.
func terminationMessage(c *corev1.Container, s *runtimeapi.ContainerStatus) string {
	if s.State != runtimeapi.ContainerState_CONTAINER_EXITED {
		return ""
	}
	for _, m := range s.Mounts {
		if c.TerminationMessagePath != "" && m.ContainerPath == c.TerminationMessagePath {
			if msg := readHead(m.HostPath, maxTerminationMessage); msg != "" {
				return msg
			}
			break
		}
	}
	if c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError || s.ExitCode == 0 || s.LogPath == "" {
		return ""
	}
	f, err := os.Open(s.LogPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	lines, err := crilog.ReadLines(f, crilog.Options{Tail: maxTerminationLogLines})
	if err != nil && len(lines) == 0 {
		return ""
	}
	msg := bytes.Join(lines, nil)
	if len(msg) > maxTerminationLogMessage {
		msg = msg[len(msg)-maxTerminationLogMessage:]
	}
	return string(msg)
}

func readHead(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, n))
	if err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	return string(b)
}
