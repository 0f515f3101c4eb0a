package status

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"

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

// messages remembers the termination message of each exited container by
// container ID: an exited container's message file and log do not change
// any more, so they are read once, not at every status computation.
type messages struct {
	mu   sync.Mutex
	byID map[string]string
}

// of is the termination message of an exited container, "" for one that
// did not exit.
func (m *messages) of(c *corev1.Container, s *runtimeapi.ContainerStatus) string {
	if s.State != runtimeapi.ContainerState_CONTAINER_EXITED {
		return ""
	}
	m.mu.Lock()
	msg, ok := m.byID[s.Id]
	m.mu.Unlock()
	if ok {
		return msg
	}
	msg = terminationMessage(c, s)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byID == nil {
		m.byID = map[string]string{}
	}
	m.byID[s.Id] = msg
	return msg
}

// ForgetRemoved drops the remembered termination messages of containers
// the runtime no longer has: present holds the IDs of those it has.
func (m *Manager) ForgetRemoved(present map[string]bool) {
	m.messages.mu.Lock()
	defer m.messages.mu.Unlock()
	for id := range m.messages.byID {
		if !present[id] {
			delete(m.messages.byID, id)
		}
	}
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
