package images

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// staticBusybox is Debian's busybox-static, which hack/install-deps.sh
// installs and the agent passes to Busybox.
const staticBusybox = "/bin/busybox"

// hostBusyboxes returns the host's static busybox and DynamicBusybox, and
// fails the test when either is missing.
func hostBusyboxes(t *testing.T) (static, dynamic string) {
	t.Helper()
	for _, p := range []string{staticBusybox, DynamicBusybox} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("need %s (hack/install-deps.sh installs it): %v", p, err)
		}
	}
	return staticBusybox, DynamicBusybox
}

func TestBusyboxArchive(t *testing.T) {
	static, dyn := hostBusyboxes(t)
	applets, err := BusyboxApplets(dyn)
	if err != nil {
		t.Fatal(err)
	}
	libs, err := sharedLibraryFiles(dyn)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Busybox(&buf, static); err != nil {
		t.Fatal(err)
	}
	a := decodeArchive(t, buf.Bytes())
	if got := a.manifest[0].RepoTags; !slices.Equal(got, []string{BusyboxRef}) {
		t.Errorf("RepoTags = %v, want [%s]", got, BusyboxRef)
	}
	c := a.config.Config
	if !slices.Equal(c.Cmd, []string{"sh"}) || !slices.Equal(c.Env, []string{busyboxPath}) || len(c.Entrypoint) != 0 {
		t.Errorf("config = %+v", c)
	}
	// The busybox is the dynamic one: the static one's shell would never
	// run the image's wget and nc.
	host, err := os.ReadFile(dyn)
	if err != nil {
		t.Fatal(err)
	}
	if e := a.layer["bin/busybox"]; e.hdr == nil || e.hdr.Mode != 0o755 || !bytes.Equal(e.data, host) {
		t.Errorf("bin/busybox missing, wrong mode or not %s", dyn)
	}
	tools, err := NetappletsBinary()
	if err != nil {
		t.Fatal(err)
	}
	if e := a.layer["bin/flotilla-netapplets"]; e.hdr == nil || e.hdr.Mode != 0o755 || !bytes.Equal(e.data, tools) {
		t.Error("bin/flotilla-netapplets missing, wrong mode or content")
	}
	if !slices.Contains(applets, "sh") || !slices.Contains(applets, "wget") || !slices.Contains(applets, "nc") || slices.Contains(applets, "busybox") {
		t.Errorf("applets %v: want sh, wget, nc and not busybox", applets)
	}
	for _, app := range applets {
		want := "busybox"
		if app == "wget" || app == "nc" {
			want = "flotilla-netapplets"
		}
		if e := a.layer["bin/"+app]; e.hdr == nil || e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != want {
			t.Errorf("bin/%s is not a symlink to %s", app, want)
		}
	}
	// glibc, as in upstream's busybox:glibc: the loader and libraries.
	var libNames []string
	for _, l := range libs {
		name := strings.TrimPrefix(l.Path, "/")
		libNames = append(libNames, name)
		if e := a.layer[name]; e.hdr == nil || e.hdr.Typeflag != tar.TypeReg || !bytes.Equal(e.data, l.Data) {
			t.Errorf("%s missing or not a copy of the host's", name)
		}
	}
	for _, want := range []string{"lib64/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/libc.so.6"} {
		if !slices.Contains(libNames, want) {
			t.Errorf("libraries %v lack %s", libNames, want)
		}
	}
	dirs := map[string]int64{"tmp/": 0o1777, "root/": 0o700, "var/": 0o755, "var/run/": 0o755, "etc/": 0o755, "bin/": 0o755}
	for _, l := range libNames {
		for d := path.Dir(l); d != "."; d = path.Dir(d) {
			dirs[d+"/"] = 0o755
		}
	}
	for d, mode := range dirs {
		if e := a.layer[d]; e.hdr == nil || e.hdr.Typeflag != tar.TypeDir || e.hdr.Mode != mode {
			t.Errorf("%s: want directory with mode %o", d, mode)
		}
	}
	for _, f := range []string{"etc/passwd", "etc/group"} {
		data := string(a.layer[f].data)
		if !strings.HasPrefix(data, "root:x:0:") || !strings.Contains(data, "\nnobody:x:65534:") {
			t.Errorf("%s = %q, want root and nobody", f, data)
		}
	}
	if ns := string(a.layer["etc/nsswitch.conf"].data); !strings.Contains(ns, "\nhosts: files dns\n") || !strings.HasPrefix(ns, "passwd: files\n") {
		t.Errorf("etc/nsswitch.conf = %q", ns)
	}
	// 2 binaries + applet links + libraries + directories + passwd, group, nsswitch.conf.
	if want := 2 + len(applets) + len(libs) + len(dirs) + 3; len(a.layer) != want {
		t.Errorf("layer has %d entries, want %d: %v", len(a.layer), want, a.order)
	}
}

// TestBusyboxFiles checks that BusyboxFiles is the content of Busybox, so
// that other tags of the same image can be written with WriteArchive.
func TestBusyboxFiles(t *testing.T) {
	static, _ := hostBusyboxes(t)
	files, cfg, err := BusyboxFiles(static)
	if err != nil {
		t.Fatal(err)
	}
	var fromFiles, direct bytes.Buffer
	if err := WriteArchive(&fromFiles, BusyboxRef, files, cfg); err != nil {
		t.Fatal(err)
	}
	if err := Busybox(&direct, static); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fromFiles.Bytes(), direct.Bytes()) {
		t.Error("WriteArchive(BusyboxRef, BusyboxFiles()) differs from Busybox()")
	}
	if _, _, err := BusyboxFiles(path.Join(t.TempDir(), "missing")); err == nil {
		t.Error("BusyboxFiles accepted a missing binary")
	}
}

// TestBusyboxSelection: the image is made of a busybox whose shell runs
// programs on PATH; the static one's does not, and DynamicBusybox stands in.
func TestBusyboxSelection(t *testing.T) {
	static, dyn := hostBusyboxes(t)
	for bb, want := range map[string]bool{static: false, dyn: true} {
		got, err := shellRunsPathPrograms(bb)
		if err != nil || got != want {
			t.Errorf("shellRunsPathPrograms(%s) = %v, %v; want %v", bb, got, err, want)
		}
	}
	for _, p := range []string{static, dyn} {
		if got, err := busyboxForImage(p); err != nil || got != dyn {
			t.Errorf("busyboxForImage(%s) = %q, %v; want %s", p, got, err, dyn)
		}
	}

	defer func(orig string) { DynamicBusybox = orig }(DynamicBusybox)
	DynamicBusybox = filepath.Join(t.TempDir(), "missing")
	if _, err := busyboxForImage(static); err == nil || !strings.Contains(err.Error(), "runs its own applets") || !strings.Contains(err.Error(), "is missing") {
		t.Errorf("without DynamicBusybox: %v, want an error saying why", err)
	}
	if err := Busybox(io.Discard, static); err == nil {
		t.Error("Busybox built an image whose shell cannot reach its wget")
	}
	// A stand-in that prefers its applets too is no better.
	DynamicBusybox = filepath.Join(t.TempDir(), "busybox")
	bin, err := os.ReadFile(static)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(DynamicBusybox, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := busyboxForImage(static); err == nil || !strings.Contains(err.Error(), "also prefers its applets") {
		t.Errorf("with a standalone DynamicBusybox: %v", err)
	}
}

func TestBusyboxRejectsBadBinary(t *testing.T) {
	// A file that is not ELF at all must be rejected before running it.
	p := path.Join(t.TempDir(), "busybox")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Busybox(io.Discard, p); err == nil || !strings.Contains(err.Error(), "not an ELF") {
		t.Errorf("Busybox(script) = %v, want not an ELF executable", err)
	}
	if err := Busybox(io.Discard, path.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Busybox accepted a missing binary")
	}
	// An executable that is no busybox.
	if err := Busybox(io.Discard, "/bin/true"); err == nil || !strings.Contains(err.Error(), "--list") {
		t.Errorf("Busybox(/bin/true) = %v, want a failing --list", err)
	}
}

func TestSharedLibraryFiles(t *testing.T) {
	static, dyn := hostBusyboxes(t)
	if files, err := sharedLibraryFiles(static); err != nil || files != nil {
		t.Errorf("static busybox needs %v, %v; want nothing", files, err)
	}
	files, err := sharedLibraryFiles(dyn)
	if err != nil {
		t.Fatal(err)
	}
	info, err := readELF(dyn)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 || files[0].Path != info.interp {
		t.Fatalf("files %v: want the loader %s first", files, info.interp)
	}
	have := map[string]bool{}
	for _, f := range files {
		host, err := os.ReadFile(f.Path)
		if err != nil || !bytes.Equal(host, f.Data) {
			t.Errorf("%s is not the host's file (%v)", f.Path, err)
		}
		have[path.Base(f.Path)] = true
	}
	// Everything any of them needs is there.
	for _, f := range files {
		fi, err := readELF(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range fi.needed {
			if !have[n] {
				t.Errorf("%s needs %s, which is missing", f.Path, n)
			}
		}
	}
	for _, n := range info.needed {
		if !have[n] {
			t.Errorf("busybox needs %s, which is missing", n)
		}
	}
}
