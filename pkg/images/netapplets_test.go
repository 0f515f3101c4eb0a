package images

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-io/flotilla/pkg/images/internal/srchash"
)

// TestNetappletsUpToDate fails when internal/netapplets changed since
// netapplets.bin.gz was generated: the embedded binary reports the hash of
// the sources it was built from.
func TestNetappletsUpToDate(t *testing.T) {
	want, err := srchash.Dir("internal/netapplets")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := NetappletsBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "netapplets")
	if err := os.WriteFile(p, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(p, "--source-hash").Output()
	if err != nil {
		t.Fatalf("netapplets --source-hash: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("embedded netapplets was built from sources %s, internal/netapplets is now %s: run `go generate ./pkg/images`", got, want)
	}
	// Static: the busybox image has no C library for it.
	f, err := elf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Error("embedded netapplets is dynamically linked")
		}
	}
}
