package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"image/jpeg"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/pkg/images"
)

// builtImage is a docker-archive written by buildImages, read back.
type builtImage struct {
	tags   []string
	config struct {
		Entrypoint []string
		Cmd        []string
		Env        []string
		User       string
		WorkingDir string
	}
	layer map[string]layerEntry // by absolute path, without a trailing slash
}

type layerEntry struct {
	hdr  *tar.Header
	data []byte
}

// readImage decodes the single-image, single-layer docker-archive at file.
func readImage(t *testing.T, file string) *builtImage {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	outer := readTarEntries(t, raw)
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(outer["/manifest.json"].data, &manifest); err != nil {
		t.Fatalf("%s: manifest.json: %v", file, err)
	}
	if len(manifest) != 1 || len(manifest[0].Layers) != 1 {
		t.Fatalf("%s: manifest %+v, want one image of one layer", file, manifest)
	}
	img := &builtImage{tags: manifest[0].RepoTags}
	var cfg struct{ Config json.RawMessage }
	if err := json.Unmarshal(outer["/"+manifest[0].Config].data, &cfg); err != nil {
		t.Fatalf("%s: config: %v", file, err)
	}
	if err := json.Unmarshal(cfg.Config, &img.config); err != nil {
		t.Fatalf("%s: config: %v", file, err)
	}
	img.layer = readTarEntries(t, outer["/"+manifest[0].Layers[0]].data)
	return img
}

// readTarEntries returns the entries of a tarball by absolute path.
func readTarEntries(t *testing.T, b []byte) map[string]layerEntry {
	t.Helper()
	entries := map[string]layerEntry{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return entries
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read tar entry %s: %v", h.Name, err)
		}
		entries[path.Clean("/"+h.Name)] = layerEntry{h, data}
	}
}

// resolve follows symlinks within the layer and returns the entry p names.
func (img *builtImage) resolve(p string) (layerEntry, bool) {
	for range 16 {
		e, ok := img.layer[p]
		if !ok || e.hdr.Typeflag != tar.TypeSymlink {
			return e, ok
		}
		if target := e.hdr.Linkname; path.IsAbs(target) {
			p = target
		} else {
			p = path.Join(path.Dir(p), target)
		}
	}
	return layerEntry{}, false
}

// lookPath finds an executable the way the runtime does for a command
// without a slash: in the image's PATH.
func (img *builtImage) lookPath(name string) (string, bool) {
	if strings.Contains(name, "/") {
		e, ok := img.resolve(name)
		return name, ok && e.hdr.Typeflag == tar.TypeReg && e.hdr.Mode&0o111 != 0
	}
	for _, env := range img.config.Env {
		if dirs, ok := strings.CutPrefix(env, "PATH="); ok {
			for _, d := range strings.Split(dirs, ":") {
				if e, ok := img.resolve(path.Join(d, name)); ok && e.hdr.Typeflag == tar.TypeReg && e.hdr.Mode&0o111 != 0 {
					return path.Join(d, name), true
				}
			}
		}
	}
	return "", false
}

// checkLinking checks that every dynamically linked executable in the
// layer has its interpreter and finds each library it needs, directly or
// through another library, in the layer's library directories.
func (img *builtImage) checkLinking(t *testing.T) {
	t.Helper()
	for p, e := range img.layer {
		if e.hdr.Typeflag != tar.TypeReg || !bytes.HasPrefix(e.data, []byte("\x7fELF")) {
			continue
		}
		f, err := elf.NewFile(bytes.NewReader(e.data))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		interp, err := interpreter(f)
		if err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if interp != "" {
			if ie, ok := img.resolve(interp); !ok || ie.hdr.Mode&0o111 == 0 {
				t.Errorf("%s: interpreter %s missing or not executable", p, interp)
			}
		}
		needed, _ := f.DynString(elf.DT_NEEDED)
		for _, lib := range needed {
			if !slices.ContainsFunc(libDirs, func(d string) bool { _, ok := img.resolve(path.Join(d, lib)); return ok }) {
				t.Errorf("%s: library %s not in the image", p, lib)
			}
		}
		f.Close()
	}
}

// checkSymlinks checks that every symlink of the layer points into it.
func (img *builtImage) checkSymlinks(t *testing.T) {
	t.Helper()
	for p, e := range img.layer {
		if e.hdr.Typeflag == tar.TypeSymlink {
			if _, ok := img.resolve(p); !ok {
				t.Errorf("%s -> %s dangles", p, e.hdr.Linkname)
			}
		}
	}
}

// requireHostTools skips the test unless the host has every program the
// recipes copy.
func requireHostTools(t *testing.T) {
	t.Helper()
	tools := []hostTool{toolWget, toolCurl, toolNc, toolDig, toolNslookup, toolHost, toolIP, toolSs, toolBash, toolGetent, toolMv}
	for _, p := range []string{dynamicBusybox, etcdServer} {
		tools = append(tools, hostTool{host: p})
	}
	for _, tool := range tools {
		if _, err := os.Stat(tool.host); err != nil {
			t.Fatalf("%v: run hack/install-deps.sh --conformance (make test does)", err)
		}
	}
	if _, err := images.PauseBinary(); err != nil {
		t.Fatalf("pause binary: %v", err)
	}
	if _, err := exec.LookPath(goTool()); err != nil {
		t.Fatalf("no go toolchain to build nnp: %v", err)
	}
}

// stubInputs stands in for the upstream binaries: the pause program as the
// static agnhost, and getent, a dynamically linked program, as the sample
// API server, so that both kinds of input are covered.
func stubInputs(t *testing.T) imageInputs {
	t.Helper()
	bin, err := images.PauseBinary()
	if err != nil {
		t.Fatal(err)
	}
	agnhost := filepath.Join(t.TempDir(), "agnhost")
	if err := os.WriteFile(agnhost, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return imageInputs{Agnhost: agnhost, SampleAPIServer: toolGetent.host}
}

// entryWant is what a layer entry must be.
type entryWant struct {
	typ      byte
	mode     int64  // checked when non-zero
	link     string // symlink target
	host     string // host file the content must equal
	contains string // text the content must contain
}

var (
	wantDir = entryWant{typ: tar.TypeDir}
	wantTmp = entryWant{typ: tar.TypeDir, mode: 0o1777}
	wantSh  = entryWant{typ: tar.TypeSymlink, link: "busybox"}
	// /bin/sh is bash in every image with a userland (see userland).
	wantBashSh = entryWant{typ: tar.TypeSymlink, link: "bash"}
	wantExec   = entryWant{typ: tar.TypeReg, mode: 0o755}
)

func wantHost(t hostTool) entryWant { return entryWant{typ: tar.TypeReg, mode: 0o755, host: t.host} }

func wantText(s string) entryWant { return entryWant{typ: tar.TypeReg, contains: s} }

// imageWant is what one image must hold.
type imageWant struct {
	entrypoint, cmd []string
	user, workdir   string
	files           map[string]entryWant
	absent          []string // paths that must not exist (applets real tools replace)
}

// agnhostFiles are what agnhost and the update-demo images share.
func agnhostFiles(in imageInputs) map[string]entryWant {
	return map[string]entryWant{
		"/agnhost":                    {typ: tar.TypeReg, mode: 0o755, host: in.Agnhost},
		"/agnhost-2":                  {typ: tar.TypeSymlink, link: "agnhost"},
		"/uploads":                    wantDir,
		"/localhost.crt":              wantText("BEGIN CERTIFICATE"),
		"/localhost.key":              wantText("BEGIN PRIVATE KEY"),
		"/bin/sh":                     wantBashSh,
		"/bin/busybox":                {typ: tar.TypeReg, mode: 0o755, host: dynamicBusybox},
		"/bin/bash":                   wantHost(toolBash),
		"/usr/bin/wget":               wantHost(toolWget),
		"/usr/bin/curl":               wantHost(toolCurl),
		"/usr/bin/nc":                 wantHost(toolNc),
		"/usr/bin/dig":                wantHost(toolDig),
		"/usr/bin/nslookup":           wantHost(toolNslookup),
		"/usr/bin/host":               wantHost(toolHost),
		"/usr/bin/getent":             wantHost(toolGetent),
		"/sbin/ip":                    wantHost(toolIP),
		"/usr/sbin/ss":                wantHost(toolSs),
		"/bin/cat":                    wantSh,
		"/bin/seq":                    wantSh,
		"/etc/passwd":                 wantText("\nuser-defined-in-image:x:1000:1000:"),
		"/etc/group":                  wantText("\ngroup-defined-in-image:x:50000:user-defined-in-image\n"),
		"/etc/nsswitch.conf":          wantText("hosts: files dns"),
		"/etc/wgetrc":                 wantText("tries = 1"),
		"/tmp":                        wantTmp,
		"/lib64/ld-linux-x86-64.so.2": wantExec,
	}
}

// shadowed are busybox applets the agnhost image has real tools for.
var shadowed = []string{"/bin/wget", "/bin/nc", "/bin/nslookup", "/bin/ip"}

func imageWants(in imageInputs) map[string]imageWant {
	withData := func(name string) map[string]entryWant {
		fs := agnhostFiles(in)
		fs["/data.json"] = wantText(`"image": "` + name + `.jpg"`)
		fs["/"+name+".jpg"] = entryWant{typ: tar.TypeReg, mode: 0o644}
		return fs
	}
	httpd := imageWant{
		cmd:     []string{"httpd-foreground"},
		workdir: "/usr/local/apache2",
		files: map[string]entryWant{
			"/usr/local/apache2/htdocs/index.html": wantText("It works!"),
			"/usr/local/bin/httpd-foreground":      {typ: tar.TypeReg, mode: 0o755, contains: "httpd -f -p 80 -h /usr/local/apache2/htdocs"},
			"/bin/mv":                              wantHost(toolMv),
			"/bin/sh":                              wantBashSh,
			"/bin/httpd":                           wantSh,
			"/tmp":                                 wantTmp,
		},
	}
	nginx := imageWant{
		cmd: []string{"nginx", "-g", "daemon off;"},
		files: map[string]entryWant{
			"/usr/share/nginx/html/index.html": wantText("Welcome to nginx!"),
			"/usr/sbin/nginx":                  {typ: tar.TypeReg, mode: 0o755, contains: "httpd -f -p 80 -h /usr/share/nginx/html"},
			"/bin/sh":                          wantBashSh,
		},
	}
	return map[string]imageWant{
		refAgnhost:  {entrypoint: []string{"/agnhost"}, cmd: []string{"pause"}, files: agnhostFiles(in), absent: shadowed},
		refKitten:   {entrypoint: []string{"/agnhost"}, cmd: []string{"test-webserver"}, files: withData("kitten"), absent: shadowed},
		refNautilus: {entrypoint: []string{"/agnhost"}, cmd: []string{"test-webserver"}, files: withData("nautilus"), absent: shadowed},
		refBusybox: {cmd: []string{"sh"}, files: map[string]entryWant{
			"/bin/busybox": {typ: tar.TypeReg, mode: 0o755, host: dynamicBusybox},
			"/bin/bash":    wantHost(toolBash),
			"/bin/sh":      wantBashSh,
			"/bin/wget":    wantSh,
			"/tmp":         wantTmp,
		}},
		refHttpd:    httpd,
		refHttpdNew: httpd,
		refNginx:    nginx,
		refNginxNew: nginx,
		refJessieDnsutils: {cmd: []string{"bash"}, files: map[string]entryWant{
			"/usr/bin/dig":       wantHost(toolDig),
			"/usr/bin/nslookup":  wantHost(toolNslookup),
			"/usr/bin/host":      wantHost(toolHost),
			"/usr/bin/getent":    wantHost(toolGetent),
			"/usr/bin/wget":      wantHost(toolWget),
			"/usr/bin/curl":      wantHost(toolCurl),
			"/bin/bash":          wantHost(toolBash),
			"/bin/sh":            wantBashSh,
			"/etc/nsswitch.conf": wantText("hosts: files dns"),
			"/etc/wgetrc":        wantText("tries = 1"),
		}, absent: []string{"/bin/wget", "/bin/nslookup"}},
		refNonRoot: {cmd: []string{"/bin/sh"}, user: "1234", files: map[string]entryWant{
			"/bin/sh": wantBashSh,
			"/bin/id": wantSh,
		}},
		refNonewprivs: {cmd: []string{"nnp"}, files: map[string]entryWant{
			"/usr/local/bin/nnp": {typ: tar.TypeReg, mode: 0o4755},
			"/bin/sh":            wantBashSh,
		}},
		refPause: {entrypoint: []string{"/pause"}, user: "65535:65535", files: map[string]entryWant{
			"/pause": wantExec,
		}},
		refSampleAPIServer: {entrypoint: []string{"/sample-apiserver"}, files: map[string]entryWant{
			"/sample-apiserver":               {typ: tar.TypeReg, mode: 0o755, host: in.SampleAPIServer},
			"/lib64/ld-linux-x86-64.so.2":     wantExec,
			"/lib/x86_64-linux-gnu/libc.so.6": {typ: tar.TypeReg},
			"/tmp":                            wantTmp,
		}},
		refEtcd: {cmd: []string{"/usr/local/bin/etcd"}, workdir: "/", files: map[string]entryWant{
			"/usr/local/bin/etcd": {typ: tar.TypeReg, mode: 0o755, host: etcdServer},
			"/var/etcd":           {typ: tar.TypeDir, mode: 0o700},
			"/tmp":                wantTmp,
		}},
	}
}

// TestBuildImages builds every image there is a recipe for, plus refs
// there is none for, and checks the archives' contents.
func TestBuildImages(t *testing.T) {
	requireHostTools(t)
	in := stubInputs(t)
	unknown := []string{
		"invalid.registry.k8s.io/invalid/alpine:3.1",
		"gcr.io/authenticated-image-pulling/alpine:3.7",
		e2eRegistry + "ipc-utils:1.3",
	}
	want := append(slices.Sorted(maps.Keys(recipes)), unknown...)
	want = append(want, refAgnhost, unknown[0]) // duplicates are built or skipped once
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	built, skipped, err := buildImages(ctx, dir, in, want)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(skipped, unknown) {
		t.Errorf("skipped = %v, want %v", skipped, unknown)
	}
	if got := slices.Sorted(maps.Keys(built)); !slices.Equal(got, slices.Sorted(maps.Keys(recipes))) {
		t.Errorf("built %v, want every recipe", got)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	wants := imageWants(in)
	if got := slices.Sorted(maps.Keys(wants)); !slices.Equal(got, slices.Sorted(maps.Keys(recipes))) {
		t.Errorf("expectations for %v, want one per recipe", got)
	}
	for ref, w := range wants {
		t.Run(path.Base(ref), func(t *testing.T) {
			file, ok := built[ref]
			if !ok {
				t.Fatal("not built")
			}
			if filepath.Dir(file) != dir || filepath.Base(file) != archiveName(ref) {
				t.Errorf("archive %s, want %s in %s", file, archiveName(ref), dir)
			}
			img := readImage(t, file)
			checkImage(t, img, ref, w)
		})
	}
}

// checkImage checks img against w and the rules every image follows.
func checkImage(t *testing.T, img *builtImage, ref string, w imageWant) {
	t.Helper()
	if !slices.Equal(img.tags, []string{ref}) {
		t.Errorf("RepoTags = %v, want [%s]", img.tags, ref)
	}
	c := img.config
	if !slices.Equal(c.Entrypoint, w.entrypoint) || !slices.Equal(c.Cmd, w.cmd) || c.User != w.user || c.WorkingDir != w.workdir {
		t.Errorf("config entrypoint %q cmd %q user %q workdir %q, want %q %q %q %q",
			c.Entrypoint, c.Cmd, c.User, c.WorkingDir, w.entrypoint, w.cmd, w.user, w.workdir)
	}
	// The program the image starts must be there, found as the runtime finds it.
	if argv := append(slices.Clone(c.Entrypoint), c.Cmd...); len(argv) > 0 {
		if _, ok := img.lookPath(argv[0]); !ok {
			t.Errorf("%s: not an executable in the image", argv[0])
		}
	}
	for p, fw := range w.files {
		checkEntry(t, img, p, fw)
	}
	for _, p := range w.absent {
		if _, ok := img.layer[p]; ok {
			t.Errorf("%s: present, want it absent", p)
		}
	}
	img.checkLinking(t)
	img.checkSymlinks(t)
}

func checkEntry(t *testing.T, img *builtImage, p string, w entryWant) {
	t.Helper()
	e, ok := img.layer[p]
	if !ok {
		t.Errorf("%s: missing", p)
		return
	}
	h := e.hdr
	if h.Typeflag != w.typ || (w.mode != 0 && h.Mode != w.mode) || h.Linkname != w.link {
		t.Errorf("%s: type %c mode %o link %q, want type %c mode %o link %q", p, h.Typeflag, h.Mode, h.Linkname, w.typ, w.mode, w.link)
	}
	if w.host != "" {
		host, err := os.ReadFile(w.host)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.data, host) {
			t.Errorf("%s: content differs from %s", p, w.host)
		}
	}
	if !strings.Contains(string(e.data), w.contains) {
		t.Errorf("%s: content %.200q does not contain %q", p, e.data, w.contains)
	}
}

// TestBuildImagesReproducible checks that building again gives identical
// archives (equal image IDs: re-importing changes nothing).
func TestBuildImagesReproducible(t *testing.T) {
	requireHostTools(t)
	in := stubInputs(t)
	refs := []string{refNginx, refNonewprivs, refPause, refEtcd}
	var runs []map[string]string
	for range 2 {
		built, _, err := buildImages(context.Background(), t.TempDir(), in, refs)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, built)
	}
	for _, ref := range refs {
		a, errA := os.ReadFile(runs[0][ref])
		b, errB := os.ReadFile(runs[1][ref])
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: archives of two builds differ", ref)
		}
	}
}

// TestBuildImagesErrors checks that missing inputs fail the build with the
// image named, and that an empty want builds nothing.
func TestBuildImagesErrors(t *testing.T) {
	requireHostTools(t)
	ctx := context.Background()
	_, _, err := buildImages(ctx, t.TempDir(), imageInputs{}, []string{refAgnhost})
	if err == nil || !strings.Contains(err.Error(), refAgnhost) {
		t.Errorf("agnhost without binary: err = %v, want one naming the image", err)
	}
	missing := imageInputs{SampleAPIServer: filepath.Join(t.TempDir(), "missing")}
	if _, _, err := buildImages(ctx, t.TempDir(), missing, []string{refSampleAPIServer}); err == nil {
		t.Error("sample-apiserver from a missing binary: no error")
	}
	built, skipped, err := buildImages(ctx, t.TempDir(), imageInputs{}, nil)
	if err != nil || len(built) != 0 || len(skipped) != 0 {
		t.Errorf("empty want: %v %v %v", built, skipped, err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := buildImages(canceled, t.TempDir(), stubInputs(t), []string{refPause}); err == nil {
		t.Error("canceled context: no error")
	}
}

// TestResolveELFDeps compares the libraries found for host programs with
// those ldd, which asks the dynamic loader itself, reports.
func TestResolveELFDeps(t *testing.T) {
	if _, err := exec.LookPath("ldd"); err != nil {
		t.Fatalf("ldd not found: %v", err)
	}
	for _, p := range []string{toolBash.host, toolWget.host, toolDig.host, toolCurl.host, toolIP.host, dynamicBusybox} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		t.Run(path.Base(p), func(t *testing.T) {
			d, err := resolveELFDeps(p)
			if err != nil {
				t.Fatal(err)
			}
			if d.interp != "/lib64/ld-linux-x86-64.so.2" {
				t.Errorf("interp = %q", d.interp)
			}
			var got []string
			for _, lib := range d.libs {
				got = append(got, path.Base(lib))
			}
			if want := lddLibs(t, p); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
				t.Errorf("libraries\n got %v\nwant %v (ldd)", slices.Sorted(slices.Values(got)), want)
			}
		})
	}
	bin, err := images.PauseBinary()
	if err != nil {
		t.Fatalf("pause binary: %v", err)
	}
	static := filepath.Join(t.TempDir(), "static")
	if err := os.WriteFile(static, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if d, err := resolveELFDeps(static); err != nil || d.interp != "" || len(d.libs) != 0 {
		t.Errorf("static binary: %+v, %v; want no dependencies", d, err)
	}
	if _, err := resolveELFDeps(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing binary: no error")
	}
}

// lddLibs returns the sorted names of the libraries ldd lists for p,
// without the vDSO and the loader.
func lddLibs(t *testing.T, p string) []string {
	out, err := exec.Command("ldd", p).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", p, err)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == "=>" {
			libs = append(libs, f[0])
		}
	}
	slices.Sort(libs)
	return libs
}

// TestNnp runs the nonewprivs program on the host: it must print the
// effective uid as the test matches it.
func TestNnp(t *testing.T) {
	requireHostTools(t)
	b := newBuilder(context.Background(), imageInputs{})
	defer b.close()
	bin, err := b.nnpBinary()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	if interp, _ := interpreter(f); interp != "" {
		t.Errorf("nnp is dynamically linked (%s); setuid programs in the image must be static", interp)
	}
	p := filepath.Join(t.TempDir(), "nnp")
	if err := os.WriteFile(p, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(p).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "Effective uid: " + strconv.Itoa(os.Geteuid()) + "\n"; string(out) != want {
		t.Errorf("nnp printed %q, want %q", out, want)
	}
}

// TestLocalhostCert checks porter's pair: a matching, reproducible
// certificate for the loopback addresses.
func TestLocalhostCert(t *testing.T) {
	cert, key, err := localhostCert()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		t.Fatalf("certificate and key do not match: %v", err)
	}
	block, _ := pem.Decode(cert)
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := c.VerifyHostname(host); err != nil {
			t.Error(err)
		}
	}
	if c.NotAfter.Year() < 2084 {
		t.Errorf("expires %v", c.NotAfter)
	}
	cert2, key2, _ := localhostCert()
	if !bytes.Equal(cert, cert2) || !bytes.Equal(key, key2) {
		t.Error("two calls gave different pairs")
	}
}

func TestPicture(t *testing.T) {
	a, err := picture("kitten")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jpeg.Decode(bytes.NewReader(a)); err != nil {
		t.Errorf("not a JPEG: %v", err)
	}
	if b, _ := picture("nautilus"); bytes.Equal(a, b) {
		t.Error("kitten and nautilus pictures are identical")
	}
}

func TestRootfsConflicts(t *testing.T) {
	r := newBuilder(context.Background(), imageInputs{}).rootfs()
	r.file("/a", 0o644, []byte("x"))
	r.file("a", 0o644, []byte("x")) // same entry again: fine
	if _, err := r.list(); err != nil {
		t.Fatalf("identical entries: %v", err)
	}
	r.file("/a", 0o644, []byte("y"))
	r.symlink("/b", "a") // ignored after the first error
	if _, err := r.list(); err == nil || !strings.Contains(err.Error(), "/a") {
		t.Errorf("conflicting entries: err = %v, want one naming /a", err)
	}
	if _, ok := r.files["/b"]; ok {
		t.Error("entry added after an error")
	}
}

// smokeEnv is a private containerd the smoke test runs the images in.
type smokeEnv struct {
	ctx  context.Context
	dir  string // root of everything it writes
	sock string
	ids  []string // containers to remove at the end
}

// startSmokeContainerd starts a containerd with its own root, state and
// socket (CRI plugin off) and waits until it answers. Its cleanup removes
// the containers, stops it, unmounts what is left below its directory and
// removes that.
func startSmokeContainerd(t *testing.T, ctx context.Context) *smokeEnv {
	// A short directory: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "flt-smoke-")
	if err != nil {
		t.Fatal(err)
	}
	e := &smokeEnv{ctx: ctx, dir: dir, sock: filepath.Join(dir, "containerd.sock")}
	config := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"+
		"[grpc]\n  address = %q\n[ttrpc]\n  address = %q\n",
		filepath.Join(dir, "root"), filepath.Join(dir, "state"), e.sock, e.sock+".ttrpc")
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command("containerd", "--config", filepath.Join(dir, "config.toml"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, id := range e.ids {
			e.ctrCtx(ctx, "task", "kill", "-s", "SIGKILL", id)
			e.ctrCtx(ctx, "task", "delete", "--force", id)
			e.ctrCtx(ctx, "container", "delete", id)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if out, err := exec.Command("sh", "-c", `grep -o " $0/[^ ]*" /proc/self/mountinfo | sort -r | xargs -r umount -l`, dir).CombinedOutput(); err != nil {
			t.Logf("unmount below %s: %v: %s", dir, err, out)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := e.ctr("version"); err == nil {
			return e
		} else if time.Now().After(deadline) {
			t.Fatalf("containerd does not answer: %v", err)
		}
	}
}

func (e *smokeEnv) ctrCtx(ctx context.Context, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", e.sock, "--namespace", "k8s.io"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (e *smokeEnv) ctr(args ...string) (string, error) { return e.ctrCtx(e.ctx, args...) }

// run runs a container to completion in its own network namespace and
// returns its output. flags go before the image reference.
func (e *smokeEnv) run(ref, id string, flags []string, args ...string) (string, error) {
	e.ids = append(e.ids, id)
	return e.ctr(append(append(append([]string{"run", "--rm"}, flags...), ref, id), args...)...)
}

// start runs a container in the background.
func (e *smokeEnv) start(t *testing.T, ref, id string, flags []string, args ...string) {
	t.Helper()
	e.ids = append(e.ids, id)
	if _, err := e.ctr(append(append(append([]string{"run", "-d"}, flags...), ref, id), args...)...); err != nil {
		t.Fatal(err)
	}
}

// exec runs a command in the running container id.
func (e *smokeEnv) exec(id string, args ...string) (string, error) {
	return e.ctr(append([]string{"task", "exec", "--exec-id", fmt.Sprintf("x%d", time.Now().UnixNano()), id}, args...)...)
}

// eventually retries exec until its output contains want.
func (e *smokeEnv) eventually(t *testing.T, id, want string, args ...string) {
	t.Helper()
	var out string
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if out, err = e.exec(id, args...); err == nil && strings.Contains(out, want) {
			return
		}
	}
	t.Fatalf("%v in %s: %q, %v; want %q", args, id, out, err, want)
}

// task returns the status and pid of task id.
func (e *smokeEnv) task(id string) (status, pid string) {
	out, _ := e.ctr("task", "ls")
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == id {
			return f[2], f[1]
		}
	}
	return "", ""
}

// stopsOnTerm sends SIGTERM to task id and fails unless it stops within 5 s,
// as a pod's container must for deletion not to wait out the grace period.
func (e *smokeEnv) stopsOnTerm(t *testing.T, id string) {
	t.Helper()
	if _, err := e.ctr("task", "kill", "-s", "SIGTERM", id); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if status, _ := e.task(id); status == "STOPPED" {
			return
		}
	}
	t.Errorf("%s still running 5s after SIGTERM", id)
}

func expectOutput(t *testing.T, out string, err error, want ...string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output %q does not contain %q", out, w)
		}
	}
}

// TestImagesSmoke imports the images into a private containerd and runs
// in them what the conformance tests run. It needs root, containerd, runc
// and the host tools, and runs only with FLOTILLA_CONFORMANCE_SMOKE=1. The
// upstream binaries come from FLOTILLA_CONFORMANCE_AGNHOST and
// FLOTILLA_CONFORMANCE_SAMPLE_APISERVER; without them stand-ins are used
// and the checks of those programs' own behaviour are skipped.
func TestImagesSmoke(t *testing.T) {
	if os.Getenv("FLOTILLA_CONFORMANCE_SMOKE") != "1" {
		t.Skip("set FLOTILLA_CONFORMANCE_SMOKE=1 to run the images in containerd")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root to run containerd")
	}
	for _, bin := range []string{"containerd", "ctr", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%v (hack/install-deps.sh --conformance installs it)", err)
		}
	}
	requireHostTools(t)
	in := stubInputs(t)
	realAgnhost := os.Getenv("FLOTILLA_CONFORMANCE_AGNHOST")
	if realAgnhost != "" {
		in.Agnhost = realAgnhost
	}
	realSample := os.Getenv("FLOTILLA_CONFORMANCE_SAMPLE_APISERVER")
	if realSample != "" {
		in.SampleAPIServer = realSample
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	built, _, err := buildImages(ctx, dir, in, slices.Sorted(maps.Keys(recipes)))
	if err != nil {
		t.Fatal(err)
	}
	// nonewprivs as the test runs it: as uid 1000 (kubelet's runAsUser; ctr
	// has no flag for it, so the image says so).
	const nnpAs1000 = "example.com/nonewprivs-as-1000:test"
	b := newBuilder(ctx, in)
	defer b.close()
	fs, cfg := nonewprivsImage(b)
	cfg.User = "1000"
	if err := b.write(filepath.Join(dir, "nnp1000.tar"), nnpAs1000, func(*builder) (*rootfs, images.Config) { return fs, cfg }); err != nil {
		t.Fatal(err)
	}
	env := startSmokeContainerd(t, ctx)
	tars := append(slices.Collect(maps.Values(built)), filepath.Join(dir, "nnp1000.tar"))
	if err := images.Import(ctx, env.sock, "k8s.io", tars...); err != nil {
		t.Fatal(err)
	}

	t.Run("agnhost tools", func(t *testing.T) {
		out, err := env.run(refAgnhost, "agnhost-tools", nil, "sh", "-c", `
			wget -T 1 -O- http://127.0.0.1:1/ 2>/dev/null; echo "wget status $?"
			for tool in bash curl nc dig nslookup host getent ip ss cat seq timeout; do command -v $tool >/dev/null || echo "missing $tool"; done
			bash -c 'echo "bash $BASH_VERSION"'
			curl --version | head -n 1
			dig -v 2>&1
			ip -o link show lo
			getent passwd user-defined-in-image
			id -G user-defined-in-image
			echo x | nc -w 1 127.0.0.1 1; echo "nc status $?"
			# A server that never answers: wget must give up after one timeout.
			sleep 10 | nc -l 127.0.0.1 8000 &
			sleep 0.5
			start=$(date +%s); wget -T 1 -O- http://127.0.0.1:8000/ 2>/dev/null; echo "wget took $(( $(date +%s) - start ))s"`)
		expectOutput(t, out, err, "wget status 4\n", "bash 5.", "curl 7.", "DiG 9.", "lo:", "user-defined-in-image:x:1000:", "50000", "nc status 1\n")
		if m := regexp.MustCompile(`wget took (\d+)s`).FindStringSubmatch(out); m == nil {
			t.Error("no wget timing in the output")
		} else if took, _ := strconv.Atoi(m[1]); took > 3 {
			t.Errorf("wget -T 1 against a silent server took %ds, want at most 3s (one try)", took)
		}
		if strings.Contains(out, "missing") {
			t.Errorf("tools missing: %s", out)
		}
	})

	t.Run("agnhost", func(t *testing.T) {
		if realAgnhost == "" {
			t.Skip("FLOTILLA_CONFORMANCE_AGNHOST not set")
		}
		out, err := env.run(refAgnhost, "agnhost-help", nil, "/agnhost", "--help")
		expectOutput(t, out, err, "entrypoint-tester", "test-webserver", "porter")
		out, err = env.run(refAgnhost, "agnhost-2", nil, "/agnhost-2", "entrypoint-tester", "a")
		expectOutput(t, out, err, "[/agnhost-2 entrypoint-tester a]")
		// porter serves TLS with the image's pair.
		env.start(t, refAgnhost, "porter", []string{"--env", "SERVE_TLS_PORT_443=tls ok"}, "/agnhost", "porter")
		env.eventually(t, "porter", "tls ok", "curl", "-sk", "https://127.0.0.1:443/")
	})

	for _, demo := range []struct{ ref, name string }{{refKitten, "kitten"}, {refNautilus, "nautilus"}} {
		t.Run(demo.name, func(t *testing.T) {
			if realAgnhost == "" {
				t.Skip("FLOTILLA_CONFORMANCE_AGNHOST not set")
			}
			env.start(t, demo.ref, demo.name, nil)
			env.eventually(t, demo.name, demo.name+".jpg", "wget", "-q", "-O-", "http://127.0.0.1:80/data.json")
		})
	}

	t.Run("busybox", func(t *testing.T) {
		out, err := env.run(refBusybox, "busybox", nil, "sh", "-c", "echo ok")
		if err != nil || out != "ok\n" {
			t.Errorf("sh -c 'echo ok' = %q, %v", out, err)
		}
	})

	t.Run("httpd", func(t *testing.T) {
		env.start(t, refHttpd, "httpd", nil)
		env.eventually(t, "httpd", "It works!", "wget", "-q", "-O-", "http://127.0.0.1:80/index.html")
		// What the StatefulSet tests do to make the pod unready, and back.
		out, err := env.exec("httpd", "/bin/sh", "-c", "mv -v /usr/local/apache2/htdocs/index.html /tmp/ || true")
		expectOutput(t, out, err, "index.html")
		if out, err := env.exec("httpd", "wget", "-q", "-O-", "http://127.0.0.1:80/index.html"); err == nil {
			t.Errorf("index.html still served after mv: %q", out)
		}
		out, err = env.exec("httpd", "/bin/sh", "-c", "mv -v /tmp/index.html /usr/local/apache2/htdocs/ || true")
		expectOutput(t, out, err, "index.html")
		env.eventually(t, "httpd", "It works!", "wget", "-q", "-O-", "http://127.0.0.1:80/")
		env.stopsOnTerm(t, "httpd")
	})

	t.Run("nginx", func(t *testing.T) {
		env.start(t, refNginxNew, "nginx", nil)
		env.eventually(t, "nginx", "Welcome to nginx!", "wget", "-q", "-O-", "http://127.0.0.1:80/")
		env.stopsOnTerm(t, "nginx")
	})

	t.Run("jessie-dnsutils", func(t *testing.T) {
		out, err := env.run(refJessieDnsutils, "jessie", nil, "sh", "-c",
			`dig -v 2>&1; host -V 2>&1; nslookup -version 2>&1; getent passwd root; for i in $(seq 1 2); do echo "try $i"; done`)
		expectOutput(t, out, err, "DiG 9.", "host 9.", "nslookup 9.", "root:x:0:0:", "try 2")
	})

	t.Run("nonroot", func(t *testing.T) {
		out, err := env.run(refNonRoot, "nonroot", nil, "id", "-u")
		if err != nil || out != "1234\n" {
			t.Errorf("id -u = %q, %v; want 1234", out, err)
		}
	})

	t.Run("nonewprivs", func(t *testing.T) {
		// ctr sets no_new_privs unless told otherwise.
		out, err := env.run(nnpAs1000, "nnp-false", nil)
		if err != nil || out != "Effective uid: 1000\n" {
			t.Errorf("with no_new_privs: %q, %v; want uid 1000", out, err)
		}
		out, err = env.run(nnpAs1000, "nnp-true", []string{"--allow-new-privs"})
		if err != nil || out != "Effective uid: 0\n" {
			t.Errorf("without no_new_privs: %q, %v; want uid 0", out, err)
		}
	})

	t.Run("pause", func(t *testing.T) {
		env.start(t, refPause, "pause", nil)
		time.Sleep(300 * time.Millisecond)
		if status, _ := env.task("pause"); status != "RUNNING" {
			t.Fatalf("pause is %q, want RUNNING", status)
		}
		env.stopsOnTerm(t, "pause")
	})

	t.Run("etcd", func(t *testing.T) {
		out, err := env.run(refEtcd, "etcd-version", nil, "/usr/local/bin/etcd", "--version")
		expectOutput(t, out, err, "etcd Version: 3.")
		// The aggregator test's command; a client in the same network
		// namespace, as in the pod, reaches it on loopback.
		const url = "http://127.0.0.1:2379"
		env.start(t, refEtcd, "etcd", nil, "/usr/local/bin/etcd", "--listen-client-urls", url, "--advertise-client-urls", url)
		_, pid := env.task("etcd")
		env.start(t, refAgnhost, "etcd-client", []string{"--with-ns", "network:/proc/" + pid + "/ns/net"}, "sleep", "60")
		env.eventually(t, "etcd-client", `"etcdserver":"3.`, "wget", "-q", "-O-", url+"/version")
	})

	t.Run("sample-apiserver", func(t *testing.T) {
		if realSample == "" {
			t.Skip("FLOTILLA_CONFORMANCE_SAMPLE_APISERVER not set")
		}
		out, err := env.run(refSampleAPIServer, "sample-apiserver", nil, "/sample-apiserver", "--help")
		expectOutput(t, out, err, "--etcd-servers", "--tls-cert-file")
	})
}
