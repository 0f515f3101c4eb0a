package status

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestTerminationMessage(t *testing.T) {
	dir := t.TempDir()
	c := &corev1.Container{Name: "c", TerminationMessagePath: "/dev/termination-log"}
	m := &runtimeapi.Mount{ContainerPath: c.TerminationMessagePath, HostPath: filepath.Join(dir, "0")}
	if err := os.WriteFile(m.HostPath, []byte("DONE"), 0o666); err != nil {
		t.Fatal(err)
	}
	exited := &runtimeapi.ContainerStatus{State: runtimeapi.ContainerState_CONTAINER_EXITED, ExitCode: 1,
		Mounts: []*runtimeapi.Mount{{ContainerPath: "/dev/termination-log", HostPath: m.HostPath}}}
	if got := terminationMessage(c, exited); got != "DONE" {
		t.Errorf("message from file = %q", got)
	}
	if st := (&Manager{}).containerState(c, exited); st.Terminated == nil || st.Terminated.Message != "DONE" {
		t.Errorf("state %+v", st)
	}

	// Empty file, FallbackToLogsOnError, failed: the log's end.
	if err := os.WriteFile(m.HostPath, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "0.log")
	log := "2026-01-01T00:00:00.000000000Z stdout F first\n2026-01-01T00:00:01.000000000Z stderr F second\n"
	if err := os.WriteFile(logPath, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	exited.LogPath = logPath
	if got := terminationMessage(c, exited); got != "" {
		t.Errorf("File policy fell back to logs: %q", got)
	}
	c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	if got := terminationMessage(c, exited); got != "first\nsecond\n" {
		t.Errorf("fallback = %q", got)
	}
	exited.ExitCode = 0
	if got := terminationMessage(c, exited); got != "" {
		t.Errorf("fallback on success = %q", got)
	}
}

// An exited container's message is read once: what its file or log says
// later is not read again until the runtime no longer has the container.
func TestTerminationMessageReadOnce(t *testing.T) {
	dir := t.TempDir()
	m := New(nil, "192.0.2.1", nil)
	c := &corev1.Container{Name: "c", TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError}
	file := filepath.Join(dir, "0")
	logPath := filepath.Join(dir, "0.log")
	write := func(path, content string) {
		if err := os.WriteFile(path, []byte(content), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	write(file, "first")
	write(logPath, "2026-01-01T00:00:00Z stderr F from the log\n")
	exited := &runtimeapi.ContainerStatus{Id: "c1", State: runtimeapi.ContainerState_CONTAINER_EXITED, ExitCode: 1, LogPath: logPath,
		Mounts: []*runtimeapi.Mount{{ContainerPath: c.TerminationMessagePath, HostPath: file}}}
	message := func(s *runtimeapi.ContainerStatus) string {
		st := m.containerState(c, s)
		if st.Terminated == nil {
			return "<not terminated>"
		}
		return st.Terminated.Message
	}
	if got := message(exited); got != "first" {
		t.Fatalf("message %q", got)
	}
	write(file, "second")
	if got := message(exited); got != "first" {
		t.Fatalf("the message file was read again: %q", got)
	}
	// Another container of the same pod is read on its own.
	fromLog := &runtimeapi.ContainerStatus{Id: "c2", State: runtimeapi.ContainerState_CONTAINER_EXITED, ExitCode: 1, LogPath: logPath}
	if got := message(fromLog); got != "from the log\n" {
		t.Fatalf("log fallback %q", got)
	}
	write(logPath, "2026-01-01T00:00:01Z stderr F rewritten\n")
	if got := message(fromLog); got != "from the log\n" {
		t.Fatalf("the log was read again: %q", got)
	}
	// c1 went from the runtime: forgotten, so a container of that ID would
	// be read afresh.
	m.ForgetRemoved(map[string]bool{"c2": true})
	if got := message(exited); got != "second" {
		t.Fatalf("after c1 went: %q", got)
	}
	if got := message(fromLog); got != "from the log\n" {
		t.Fatalf("c2 was forgotten although the runtime has it: %q", got)
	}
	// Running containers have no message and nothing is remembered of them.
	running := &runtimeapi.ContainerStatus{Id: "c3", State: runtimeapi.ContainerState_CONTAINER_RUNNING}
	if st := m.containerState(c, running); st.Running == nil {
		t.Fatalf("running: %+v", st)
	}
	if _, kept := m.messages.byID["c3"]; kept {
		t.Fatal("a running container's message was remembered")
	}
}
