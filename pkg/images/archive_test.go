package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
)

// tarEntry is one entry of a tarball read back by readTar.
type tarEntry struct {
	hdr  *tar.Header
	data []byte
}

// readTar returns the entries of a tarball by name, plus the names in order.
func readTar(t *testing.T, b []byte) (map[string]tarEntry, []string) {
	t.Helper()
	entries := map[string]tarEntry{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read tar entry %s: %v", h.Name, err)
		}
		if _, dup := entries[h.Name]; dup {
			t.Fatalf("duplicate tar entry %s", h.Name)
		}
		entries[h.Name] = tarEntry{h, data}
		order = append(order, h.Name)
	}
	return entries, order
}

// archive is a decoded docker-archive holding a single image.
type archive struct {
	manifest []manifestEntry
	config   imageConfig
	layer    map[string]tarEntry // layer entries by name ("bin/sh", "tmp/")
	order    []string            // layer entry names in tar order
}

// decodeArchive checks the docker-archive structure of b and decodes it.
func decodeArchive(t *testing.T, b []byte) archive {
	t.Helper()
	outer, _ := readTar(t, b)
	var a archive
	m, ok := outer["manifest.json"]
	if !ok {
		t.Fatal("no manifest.json in archive")
	}
	if err := json.Unmarshal(m.data, &a.manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(a.manifest) != 1 || len(a.manifest[0].Layers) != 1 {
		t.Fatalf("manifest = %+v, want one image with one layer", a.manifest)
	}
	me := a.manifest[0]
	cfg, ok := outer[me.Config]
	if !ok {
		t.Fatalf("config %s not in archive", me.Config)
	}
	if sum := sha256.Sum256(cfg.data); hex.EncodeToString(sum[:])+".json" != me.Config {
		t.Errorf("config named %s, but its sha256 is %x", me.Config, sum)
	}
	if err := json.Unmarshal(cfg.data, &a.config); err != nil {
		t.Fatalf("config: %v", err)
	}
	layer, ok := outer[me.Layers[0]]
	if !ok {
		t.Fatalf("layer %s not in archive", me.Layers[0])
	}
	sum := sha256.Sum256(layer.data)
	if want := []string{"sha256:" + hex.EncodeToString(sum[:])}; !slices.Equal(a.config.RootFS.DiffIDs, want) {
		t.Errorf("diff_ids = %v, want %v", a.config.RootFS.DiffIDs, want)
	}
	if a.config.Architecture != "amd64" || a.config.OS != "linux" || a.config.RootFS.Type != "layers" {
		t.Errorf("config platform = %s/%s rootfs type %q, want linux/amd64 layers",
			a.config.OS, a.config.Architecture, a.config.RootFS.Type)
	}
	a.layer, a.order = readTar(t, layer.data)
	for _, name := range a.order {
		e := a.layer[name]
		if !e.hdr.ModTime.Equal(epoch) || e.hdr.Uid != 0 || e.hdr.Gid != 0 {
			t.Errorf("layer entry %s: mtime %v uid %d gid %d, want %v 0 0", name, e.hdr.ModTime, e.hdr.Uid, e.hdr.Gid, epoch)
		}
		if strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
			t.Errorf("layer entry %s: not a clean relative path", name)
		}
		// Every entry's parent directory must come earlier.
		if dir := path.Dir(strings.TrimSuffix(name, "/")); dir != "." {
			if i, j := slices.Index(a.order, dir+"/"), slices.Index(a.order, name); i < 0 || i > j {
				t.Errorf("layer entry %s: parent %s/ missing or after it", name, dir)
			}
		}
	}
	return a
}

func TestWriteArchive(t *testing.T) {
	files := []File{
		{Path: "/bin/tool", Mode: 0o755, Data: []byte("#!/bin/sh\necho tool\n")},
		{Path: "/bin/alias", Mode: os.ModeSymlink | 0o777, Link: "tool"},
		{Path: "/bin/abs", Link: "/bin/tool"}, // Link alone makes a symlink
		{Path: "/tmp", Mode: os.ModeDir | os.ModeSticky | 0o777},
		{Path: "usr/bin/su", Mode: os.ModeSetuid | 0o755, Data: []byte("su")},
		{Path: "/a/b/c/deep.txt", Mode: 0o600, Data: []byte("deep")},
		{Path: "/etc/empty", Mode: 0o644},
	}
	cfg := Config{
		Entrypoint: []string{"/bin/tool"},
		Cmd:        []string{"-v"},
		Env:        []string{"PATH=/bin", "A=b"},
		WorkingDir: "/tmp",
		User:       "1234:50",
	}
	var buf bytes.Buffer
	if err := WriteArchive(&buf, "example.com/test:1", files, cfg); err != nil {
		t.Fatal(err)
	}
	a := decodeArchive(t, buf.Bytes())
	if got := a.manifest[0].RepoTags; !slices.Equal(got, []string{"example.com/test:1"}) {
		t.Errorf("RepoTags = %v", got)
	}
	c := a.config.Config
	if !slices.Equal(c.Entrypoint, cfg.Entrypoint) || !slices.Equal(c.Cmd, cfg.Cmd) ||
		!slices.Equal(c.Env, cfg.Env) || c.WorkingDir != cfg.WorkingDir || c.User != cfg.User {
		t.Errorf("config.config = %+v, want %+v", c, cfg)
	}

	tests := []struct {
		name string
		typ  byte
		mode int64
		data string
		link string
	}{
		{name: "bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "bin/tool", typ: tar.TypeReg, mode: 0o755, data: "#!/bin/sh\necho tool\n"},
		{name: "bin/alias", typ: tar.TypeSymlink, mode: 0o777, link: "tool"},
		{name: "bin/abs", typ: tar.TypeSymlink, mode: 0o777, link: "/bin/tool"},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		{name: "usr/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/bin/su", typ: tar.TypeReg, mode: 0o4755, data: "su"},
		{name: "a/", typ: tar.TypeDir, mode: 0o755},
		{name: "a/b/", typ: tar.TypeDir, mode: 0o755},
		{name: "a/b/c/", typ: tar.TypeDir, mode: 0o755},
		{name: "a/b/c/deep.txt", typ: tar.TypeReg, mode: 0o600, data: "deep"},
		{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "etc/empty", typ: tar.TypeReg, mode: 0o644},
	}
	if len(a.layer) != len(tests) {
		t.Errorf("layer has %d entries %v, want %d", len(a.layer), a.order, len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := a.layer[tt.name]
			if !ok {
				t.Fatalf("missing from layer (have %v)", a.order)
			}
			if e.hdr.Typeflag != tt.typ || e.hdr.Mode != tt.mode || string(e.data) != tt.data || e.hdr.Linkname != tt.link {
				t.Errorf("got type %c mode %o data %q link %q, want type %c mode %o data %q link %q",
					e.hdr.Typeflag, e.hdr.Mode, e.data, e.hdr.Linkname, tt.typ, tt.mode, tt.data, tt.link)
			}
		})
	}
}

func TestWriteArchiveDeterministic(t *testing.T) {
	files := []File{
		{Path: "/x/y", Mode: 0o644, Data: []byte("y")},
		{Path: "/x/l", Link: "y"},
		{Path: "/z", Mode: 0o755, Data: []byte("z")},
	}
	reversed := slices.Clone(files)
	slices.Reverse(reversed)
	cfg := Config{Cmd: []string{"sh"}}
	var outs [][]byte
	for _, fs := range [][]File{files, files, reversed} {
		var buf bytes.Buffer
		if err := WriteArchive(&buf, "example.com/d:1", fs, cfg); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, buf.Bytes())
	}
	for i := 1; i < len(outs); i++ {
		if !bytes.Equal(outs[0], outs[i]) {
			t.Errorf("write %d differs from write 0", i)
		}
	}
	var other bytes.Buffer
	if err := WriteArchive(&other, "example.com/d:1", files, Config{Cmd: []string{"ls"}}); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(outs[0], other.Bytes()) {
		t.Error("different configs gave identical archives")
	}
}

func TestWriteArchiveErrors(t *testing.T) {
	tests := []struct {
		name  string
		ref   string
		files []File
	}{
		{name: "empty ref", files: []File{{Path: "/a", Mode: 0o644}}},
		{name: "empty path", ref: "r:1", files: []File{{Mode: 0o644}}},
		{name: "root path", ref: "r:1", files: []File{{Path: "/", Mode: os.ModeDir | 0o755}}},
		{name: "duplicate", ref: "r:1", files: []File{{Path: "/a", Mode: 0o644}, {Path: "a", Mode: 0o644}}},
		{name: "child of file", ref: "r:1", files: []File{{Path: "/a", Mode: 0o644}, {Path: "/a/b", Mode: 0o644}}},
		{name: "child of symlink", ref: "r:1", files: []File{{Path: "/a", Link: "b"}, {Path: "/a/b", Mode: 0o644}}},
		{name: "symlink without target", ref: "r:1", files: []File{{Path: "/a", Mode: os.ModeSymlink | 0o777}}},
		{name: "named pipe", ref: "r:1", files: []File{{Path: "/a", Mode: os.ModeNamedPipe | 0o644}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := WriteArchive(io.Discard, tt.ref, tt.files, Config{}); err == nil {
				t.Error("WriteArchive succeeded, want error")
			}
		})
	}
}

func TestPauseArchive(t *testing.T) {
	bin, err := PauseBinary()
	if err != nil {
		t.Fatalf("pause binary: %v", err)
	}
	var buf bytes.Buffer
	if err := Pause(&buf); err != nil {
		t.Fatal(err)
	}
	a := decodeArchive(t, buf.Bytes())
	if got := a.manifest[0].RepoTags; !slices.Equal(got, []string{PauseRef}) {
		t.Errorf("RepoTags = %v, want [%s]", got, PauseRef)
	}
	if got := a.config.Config.Entrypoint; !slices.Equal(got, []string{"/pause"}) {
		t.Errorf("Entrypoint = %v", got)
	}
	e, ok := a.layer["pause"]
	if !ok || e.hdr.Mode != 0o755 || !bytes.Equal(e.data, bin) {
		t.Errorf("/pause missing, wrong mode or content (entries %v)", a.order)
	}
	if len(a.layer) != 1 {
		t.Errorf("layer entries = %v, want only pause", a.order)
	}
}
