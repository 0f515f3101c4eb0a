package images

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func TestPauseBinaryELF(t *testing.T) {
	bin, err := PauseBinary()
	if runtime.GOARCH != "amd64" {
		if err == nil {
			t.Errorf("PauseBinary on %s succeeded, want error", runtime.GOARCH)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(bin) > 512 {
		t.Errorf("pause binary is %d bytes, want a tiny one", len(bin))
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("debug/elf: %v", err)
	}
	defer f.Close()
	checks := []struct {
		name      string
		got, want any
	}{
		{"class", f.Class, elf.ELFCLASS64},
		{"data", f.Data, elf.ELFDATA2LSB},
		{"type", f.Type, elf.ET_EXEC},
		{"machine", f.Machine, elf.EM_X86_64},
		{"entry", f.Entry, uint64(pauseBase + codeOffset)},
		{"programs", len(f.Progs), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if len(f.Progs) != 1 {
		t.FailNow()
	}
	p := f.Progs[0]
	if p.Type != elf.PT_LOAD || p.Flags != elf.PF_R|elf.PF_X || p.Off != 0 || p.Vaddr != pauseBase ||
		p.Filesz != uint64(len(bin)) || p.Memsz != p.Filesz {
		t.Errorf("program header = %+v, want one R+X PT_LOAD of the whole file at %#x", p.ProgHeader, pauseBase)
	}
	if f.Entry < p.Vaddr || f.Entry >= p.Vaddr+p.Memsz {
		t.Errorf("entry %#x outside the loaded segment", f.Entry)
	}
	// The sigaction handler must point into the code, after the entry.
	le := f.ByteOrder
	act := bin[len(bin)-sigactionLen:]
	if h := le.Uint64(act); h <= f.Entry || h >= p.Vaddr+uint64(len(bin)-sigactionLen) {
		t.Errorf("sa_handler %#x not within the code", h)
	}
	if fl := le.Uint64(act[8:]); fl != saRestorer {
		t.Errorf("sa_flags = %#x, want SA_RESTORER", fl)
	}
}

// startPause writes the pause binary to a temp file and starts it. The
// returned channel is closed once the process has exited; *waitErr then holds
// the Wait result.
func startPause(t *testing.T) (cmd *exec.Cmd, exited <-chan struct{}, waitErr *error) {
	t.Helper()
	bin, err := PauseBinary()
	if err != nil {
		t.Fatalf("pause binary: %v", err)
	}
	if runtime.GOOS != "linux" {
		t.Fatal("the pause binary runs on linux only")
	}
	p := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(p, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// A fork in a parallel test can briefly hold the file open for writing
	// (ETXTBSY, golang.org/issue/22315): retry the exec a few times.
	for attempt := 0; ; attempt++ {
		cmd = exec.Command(p)
		err := cmd.Start()
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ETXTBSY) || attempt == 50 {
			t.Fatalf("exec pause: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	done := make(chan struct{})
	waitErr = new(error)
	go func() { *waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	return cmd, done, waitErr
}

func TestPauseBinaryRuns(t *testing.T) {
	tests := []struct {
		name string
		sig  syscall.Signal
	}{
		{"SIGTERM", syscall.SIGTERM},
		{"SIGINT", syscall.SIGINT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd, exited, waitErr := startPause(t)
			select {
			case <-exited:
				t.Fatalf("pause exited early: %v", *waitErr)
			case <-time.After(200 * time.Millisecond):
			}
			// A signal with default action "ignore" must not wake it for
			// good: it keeps pausing.
			if err := cmd.Process.Signal(syscall.SIGCHLD); err != nil {
				t.Fatal(err)
			}
			select {
			case <-exited:
				t.Fatalf("pause exited after SIGCHLD: %v", *waitErr)
			case <-time.After(50 * time.Millisecond):
			}
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-exited:
				var ee *exec.ExitError
				if err := *waitErr; errors.As(err, &ee) {
					t.Fatalf("pause exited with %v after %s, want status 0", ee.ProcessState, tt.name)
				} else if err != nil {
					t.Fatal(*waitErr)
				}
				if code := cmd.ProcessState.ExitCode(); code != 0 {
					t.Fatalf("exit code %d, want 0", code)
				}
			case <-time.After(time.Second):
				t.Fatalf("pause still running 1s after %s", tt.name)
			}
		})
	}
}
