package main

// Stand-ins for the container images upstream's conformance tests run.
//
// No registry is reachable where the suite runs, so every image a
// conformance test uses is built here as a docker-archive under its exact
// upstream name, for `flotilla images import`. The tests pull with
// IfNotPresent, so the name is all that ties a stand-in to the test. Each
// stand-in holds what the tests use of the real image: its entrypoint, the
// files they read or serve and the programs they exec, copied from this
// Debian host (with their shared libraries) or built here.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"encoding/pem"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flotilla-io/flotilla/pkg/images"
)

// imageInputs are binaries built from the upstream module for the images.
type imageInputs struct {
	Agnhost         string // path of the agnhost binary (static Go, built from k8s.io/kubernetes/test/images/agnhost v1.32.13)
	SampleAPIServer string // path of the sample apiserver binary (k8s.io/sample-apiserver v0.32.3)
}

// The images there are recipes for, named as test/utils/image/manifest.go
// of Kubernetes v1.32.13 names them.
const (
	e2eRegistry = "registry.k8s.io/e2e-test-images/"

	refAgnhost         = e2eRegistry + "agnhost:2.53"
	refBusybox         = e2eRegistry + "busybox:1.36.1-1"
	refHttpd           = e2eRegistry + "httpd:2.4.38-4"
	refHttpdNew        = e2eRegistry + "httpd:2.4.39-4"
	refNginx           = e2eRegistry + "nginx:1.14-4"
	refNginxNew        = e2eRegistry + "nginx:1.15-4"
	refJessieDnsutils  = e2eRegistry + "jessie-dnsutils:1.7"
	refNonRoot         = e2eRegistry + "nonroot:1.4"
	refNonewprivs      = e2eRegistry + "nonewprivs:1.3"
	refKitten          = e2eRegistry + "kitten:1.7"
	refNautilus        = e2eRegistry + "nautilus:1.7"
	refSampleAPIServer = e2eRegistry + "sample-apiserver:1.29.2"
	refPause           = "registry.k8s.io/pause:3.10"
	refEtcd            = "registry.k8s.io/etcd:3.5.16-0"
)

// Host programs the recipes copy. Variables so that tests can substitute
// them; hack/install-deps.sh --conformance installs them all.
var (
	// dynamicBusybox is the binary of Debian's busybox package, unpacked
	// beside busybox-static (the packages conflict). Images that hold real
	// tools need it: the static build runs its own applet for a command
	// even where PATH names a real program (such as wget, whose busybox
	// version crashes on -T).
	dynamicBusybox = "/usr/local/lib/flotilla-conformance/busybox"
	// etcdServer is etcd-server's binary.
	etcdServer = "/usr/bin/etcd"
)

// hostTool is a host program, where an image has it, and configuration
// files it needs there.
type hostTool struct {
	host, image string
	files       []images.File
}

// Real programs, for the images whose tests exec them where busybox's
// applet would not do (busybox 1.35's wget crashes on -T, its mv has no -v)
// or busybox has none (dig, curl, bash). Image paths are those of the
// upstream images' Alpine or Debian packages.
var (
	toolWget = hostTool{host: "/usr/bin/wget", image: "/usr/bin/wget", files: []images.File{{
		// GNU wget retries a timed-out request up to 20 times, backing
		// off, so `wget -T 5` to an unreachable service would take
		// minutes; the busybox wget of upstream's images tries once, and
		// the tests poll themselves.
		Path: "/etc/wgetrc", Mode: 0o644, Data: []byte("tries = 1\n"),
	}}}
	toolCurl     = hostTool{host: "/usr/bin/curl", image: "/usr/bin/curl"}
	toolNc       = hostTool{host: "/bin/nc.openbsd", image: "/usr/bin/nc"}
	toolDig      = hostTool{host: "/usr/bin/dig", image: "/usr/bin/dig"}
	toolNslookup = hostTool{host: "/usr/bin/nslookup", image: "/usr/bin/nslookup"}
	toolHost     = hostTool{host: "/usr/bin/host", image: "/usr/bin/host"}
	toolIP       = hostTool{host: "/bin/ip", image: "/sbin/ip"}
	toolSs       = hostTool{host: "/bin/ss", image: "/usr/sbin/ss"}
	toolBash     = hostTool{host: "/bin/bash", image: "/bin/bash"}
	toolGetent   = hostTool{host: "/usr/bin/getent", image: "/usr/bin/getent"}
	toolMv       = hostTool{host: "/bin/mv", image: "/bin/mv"}
)

// defaultPath is the PATH of the Alpine and Debian images upstream builds on.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// recipe builds the file tree and config of one image.
type recipe func(b *builder) (*rootfs, images.Config)

// recipes maps each image reference there is a stand-in for to its recipe.
var recipes = map[string]recipe{
	refAgnhost:         agnhostImage,
	refBusybox:         busyboxImage,
	refHttpd:           httpdImage,
	refHttpdNew:        httpdImage,
	refNginx:           nginxImage,
	refNginxNew:        nginxImage,
	refJessieDnsutils:  jessieDnsutilsImage,
	refNonRoot:         nonRootImage,
	refNonewprivs:      nonewprivsImage,
	refKitten:          updateDemoImage("kitten"),
	refNautilus:        updateDemoImage("nautilus"),
	refSampleAPIServer: sampleAPIServerImage,
	refPause:           pauseImage,
	refEtcd:            etcdImage,
}

// buildImages writes one docker-archive per image ref in want into dir and
// returns ref -> tar path. Refs it has no recipe for are returned in skipped
// (never an error), e.g. images only non-conformance tests use, or
// invalid.registry.k8s.io/... which must stay unpullable.
func buildImages(ctx context.Context, dir string, in imageInputs, want []string) (built map[string]string, skipped []string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("image directory: %w", err)
	}
	b := newBuilder(ctx, in)
	defer b.close()
	built = map[string]string{}
	for _, ref := range want {
		if _, done := built[ref]; done || slices.Contains(skipped, ref) {
			continue
		}
		r, ok := recipes[ref]
		if !ok {
			skipped = append(skipped, ref)
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		file := filepath.Join(dir, archiveName(ref))
		if err := b.write(file, ref, r); err != nil {
			return nil, nil, fmt.Errorf("image %s: %w", ref, err)
		}
		built[ref] = file
	}
	return built, skipped, nil
}

// archiveName is the file name of ref's archive.
func archiveName(ref string) string {
	return strings.NewReplacer("/", "_", ":", "_").Replace(ref) + ".tar"
}

// builder holds what the recipes of one buildImages call share.
type builder struct {
	ctx     context.Context
	in      imageInputs
	scratch string              // temporary directory, made on first use
	files   map[string]hostFile // host files read so far, by path
	deps    map[string]*elfDeps // dynamic linking needs of host binaries, by path
	nnp     []byte              // the nonewprivs program, once built
}

// hostFile is the content and permissions of a host file.
type hostFile struct {
	data []byte
	perm os.FileMode
}

func newBuilder(ctx context.Context, in imageInputs) *builder {
	return &builder{ctx: ctx, in: in, files: map[string]hostFile{}, deps: map[string]*elfDeps{}}
}

// close removes the scratch directory.
func (b *builder) close() {
	if b.scratch != "" {
		os.RemoveAll(b.scratch)
	}
}

// tempDir returns the scratch directory, creating it on first use.
func (b *builder) tempDir() (string, error) {
	if b.scratch == "" {
		d, err := os.MkdirTemp("", "flotilla-conformance-images-")
		if err != nil {
			return "", err
		}
		b.scratch = d
	}
	return b.scratch, nil
}

// write runs r and writes its image as a docker-archive tagged ref to file.
// The archive appears under its name only when complete, so an interrupted
// build never leaves a truncated one to import.
func (b *builder) write(file, ref string, r recipe) error {
	fs, cfg := r(b)
	files, err := fs.list()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".tmp-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	// Readable by all, as a file created by os.Create would be.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := images.WriteArchive(tmp, ref, files, cfg); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// read returns a host file's content and permissions, reading it once.
func (b *builder) read(p string) (hostFile, error) {
	if f, ok := b.files[p]; ok {
		return f, nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return hostFile{}, err
	}
	if !st.Mode().IsRegular() {
		return hostFile{}, fmt.Errorf("%s is not a regular file", p)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return hostFile{}, err
	}
	f := hostFile{data: data, perm: st.Mode().Perm()}
	b.files[p] = f
	return f, nil
}

// elfDeps resolves the dynamic linking needs of a host binary once.
func (b *builder) elfDeps(p string) (*elfDeps, error) {
	if d, ok := b.deps[p]; ok {
		return d, nil
	}
	d, err := resolveELFDeps(p)
	if err != nil {
		return nil, err
	}
	b.deps[p] = d
	return d, nil
}

// rootfs is the file tree of an image under construction. Its methods
// record the first error and do nothing after it, so that recipes read as
// a list of contents; list reports the error.
type rootfs struct {
	b       *builder
	files   map[string]images.File // by clean absolute path
	applets []string               // busybox applets to link in /bin unless a real tool has the name
	err     error
}

func (b *builder) rootfs() *rootfs {
	return &rootfs{b: b, files: map[string]images.File{}}
}

// fail records err unless an earlier error is recorded.
func (r *rootfs) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// add puts f into the tree. Adding an identical entry again is harmless
// (binaries share libraries); a different one at the same path is an error.
func (r *rootfs) add(f images.File) {
	if r.err != nil {
		return
	}
	p := path.Clean("/" + f.Path)
	f.Path = p
	if old, ok := r.files[p]; ok {
		if old.Mode != f.Mode || old.Link != f.Link || !bytes.Equal(old.Data, f.Data) {
			r.fail(fmt.Errorf("conflicting contents for %s", p))
		}
		return
	}
	r.files[p] = f
}

func (r *rootfs) file(p string, mode os.FileMode, data []byte) {
	r.add(images.File{Path: p, Mode: mode, Data: data})
}

func (r *rootfs) dir(p string, mode os.FileMode) {
	r.add(images.File{Path: p, Mode: os.ModeDir | mode})
}

func (r *rootfs) symlink(p, target string) {
	r.add(images.File{Path: p, Mode: os.ModeSymlink | 0o777, Link: target})
}

// copyHost copies a host file to p in the image, with its permissions.
func (r *rootfs) copyHost(host, p string) {
	if r.err != nil {
		return
	}
	f, err := r.b.read(host)
	if err != nil {
		r.fail(err)
		return
	}
	r.file(p, f.perm, f.data)
}

// binary copies the host program host to p with mode 0755 and, if it is
// dynamically linked, its program interpreter and every shared library it
// needs, each at the host path the interpreter finds it at.
func (r *rootfs) binary(host, p string) {
	if r.err != nil {
		return
	}
	if host == "" {
		r.fail(fmt.Errorf("no host binary given for %s", p))
		return
	}
	f, err := r.b.read(host)
	if err != nil {
		r.fail(fmt.Errorf("%s: %w", p, err))
		return
	}
	r.file(p, 0o755, f.data)
	deps, err := r.b.elfDeps(host)
	if err != nil {
		r.fail(err)
		return
	}
	if deps.interp != "" {
		r.copyHost(deps.interp, deps.interp)
	}
	for _, lib := range deps.libs {
		r.copyHost(lib, lib)
	}
}

// tools copies real programs, and their configuration, into the image.
func (r *rootfs) tools(ts ...hostTool) {
	for _, t := range ts {
		if _, err := os.Stat(t.host); err != nil {
			r.fail(fmt.Errorf("%w (hack/install-deps.sh --conformance installs the tools the images hold)", err))
			return
		}
		r.binary(t.host, t.image)
		for _, f := range t.files {
			r.add(f)
		}
	}
}

// accounts are the lines of an image's /etc/passwd and /etc/group.
type accounts struct{ passwd, group []string }

// baseAccounts are those of the minimal images upstream builds on.
var baseAccounts = accounts{
	passwd: []string{
		"root:x:0:0:root:/root:/bin/sh",
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin",
	},
	group: []string{"root:x:0:", "nobody:x:65534:"},
}

// with returns a plus more lines.
func (a accounts) with(more accounts) accounts {
	return accounts{
		passwd: append(slices.Clone(a.passwd), more.passwd...),
		group:  append(slices.Clone(a.group), more.group...),
	}
}

// etc writes /etc/passwd, /etc/group, an /etc/nsswitch.conf for glibc
// programs (getent must read /etc/hosts before asking DNS, as in upstream's
// images) and an /etc/hosts naming localhost. In a pod the kubelet mounts
// its own /etc/hosts over it; without one (ctr run) etcd's default peer URL,
// http://localhost:2380, would be looked up in DNS and fail.
func (r *rootfs) etc(a accounts) {
	r.file("/etc/passwd", 0o644, lines(a.passwd))
	r.file("/etc/group", 0o644, lines(a.group))
	r.file("/etc/nsswitch.conf", 0o644, []byte("passwd: files\ngroup: files\nhosts: files dns\n"))
	r.file("/etc/hosts", 0o644, []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"))
}

func lines(ls []string) []byte {
	return []byte(strings.Join(ls, "\n") + "\n")
}

// userland adds a small Unix userland: Debian's dynamic busybox (applet
// links are made by list, so that real tools added at any point take
// precedence), /etc files for a, and the /tmp, /root and /run directories.
func (r *rootfs) userland(a accounts) {
	if r.err != nil {
		return
	}
	if err := checkDynamic(dynamicBusybox); err != nil {
		r.fail(fmt.Errorf("busybox %s: %w (hack/install-deps.sh --conformance unpacks it)", dynamicBusybox, err))
		return
	}
	applets, err := images.BusyboxApplets(dynamicBusybox)
	if err != nil {
		r.fail(err)
		return
	}
	r.binary(dynamicBusybox, "/bin/busybox")
	r.applets = applets
	// /bin/sh is bash: Debian's busybox 1.35 ash drops environment
	// variables whose names are not identifiers (envFrom keys such as
	// "data-1"), which the busybox 1.36 of upstream's images keeps and
	// the ConfigMap and Secret envFrom specs look for.
	if _, ok := r.files["/bin/bash"]; !ok {
		r.tools(toolBash)
	}
	r.symlink("/bin/sh", "bash")
	r.etc(a)
	r.dir("/tmp", os.ModeSticky|0o777)
	r.dir("/root", 0o700)
	r.dir("/run", 0o755)
	r.symlink("/var/run", "../run")
}

// onPath reports whether the tree has a file name in a directory of
// defaultPath.
func (r *rootfs) onPath(name string) bool {
	for _, d := range strings.Split(defaultPath, ":") {
		if _, ok := r.files[path.Join(d, name)]; ok {
			return true
		}
	}
	return false
}

// list returns the files of the tree, with the busybox applet links for
// names no real tool has, or the first error a method met.
func (r *rootfs) list() ([]images.File, error) {
	for _, a := range r.applets {
		if !r.onPath(a) {
			r.symlink("/bin/"+a, "busybox")
		}
	}
	r.applets = nil
	if r.err != nil {
		return nil, r.err
	}
	files := make([]images.File, 0, len(r.files))
	for _, f := range r.files {
		files = append(files, f)
	}
	slices.SortFunc(files, func(a, b images.File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// agnhostImage is upstream's test/images/agnhost: the agnhost binary as
// entrypoint, running `pause` by default, the files its subcommands use
// (porter's TLS pair, netexec's /uploads), /agnhost-2 for the entrypoint
// tests, the user and group a security-context test expects in the image,
// and the tools tests exec in agnhost pods (sh, bash, wget, curl, nc, dig,
// nslookup, host, getent, ip, ss and busybox's coreutils).
func agnhostImage(b *builder) (*rootfs, images.Config) {
	r := b.rootfs()
	r.binary(b.in.Agnhost, "/agnhost")
	r.symlink("/agnhost-2", "agnhost")
	r.dir("/uploads", 0o755)
	cert, key, err := localhostCert()
	if err != nil {
		r.fail(err)
	}
	// porter serves TLS with these, relative to its working directory.
	r.file("/localhost.crt", 0o644, cert)
	r.file("/localhost.key", 0o644, key)
	r.tools(toolBash, toolWget, toolCurl, toolNc, toolDig, toolNslookup, toolHost, toolGetent, toolIP, toolSs)
	r.userland(baseAccounts.with(accounts{
		passwd: []string{"user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh"},
		group:  []string{"user-defined-in-image:x:1000:", "group-defined-in-image:x:50000:user-defined-in-image"},
	}))
	return r, images.Config{
		Entrypoint: []string{"/agnhost"},
		Cmd:        []string{"pause"},
		Env:        []string{"PATH=" + defaultPath},
	}
}

// updateDemoImage is upstream's kitten or nautilus image: agnhost serving
// its root directory (`test-webserver`, port 80), where data.json names the
// picture, which the kubectl update-demo test fetches through the API
// server's pod proxy.
func updateDemoImage(name string) recipe {
	return func(b *builder) (*rootfs, images.Config) {
		r, cfg := agnhostImage(b)
		r.file("/data.json", 0o644, []byte(fmt.Sprintf("{\n  \"image\": \"%s.jpg\"\n}\n", name)))
		pic, err := picture(name)
		if err != nil {
			r.fail(err)
		}
		r.file("/"+name+".jpg", 0o644, pic)
		cfg.Cmd = []string{"test-webserver"}
		return r, cfg
	}
}

// busyboxImage is upstream's busybox image: a shell and the busybox
// applets. It is built on the dynamic userland (not Flotilla's static
// busybox image) for its /bin/sh, which keeps every environment variable.
func busyboxImage(b *builder) (*rootfs, images.Config) {
	r := b.rootfs()
	r.userland(baseAccounts)
	return r, images.Config{Cmd: []string{"sh"}, Env: []string{"PATH=" + defaultPath}}
}

// httpdImage stands in for Apache httpd (upstream's httpd images are the
// Docker Hub httpd:alpine ones): it serves /usr/local/apache2/htdocs, with
// Apache's default index.html, on port 80. The StatefulSet tests make pods
// unready by moving index.html away with `mv -v`, which busybox's mv lacks,
// so GNU mv is in the image.
func httpdImage(b *builder) (*rootfs, images.Config) {
	const docroot = "/usr/local/apache2/htdocs"
	r := b.rootfs()
	r.tools(toolMv)
	r.userland(baseAccounts)
	r.file(docroot+"/index.html", 0o644, []byte("<html><body><h1>It works!</h1></body></html>\n"))
	r.file("/usr/local/bin/httpd-foreground", 0o755, serveScript("Apache httpd", docroot))
	return r, images.Config{
		Cmd:        []string{"httpd-foreground"},
		Env:        []string{"PATH=/usr/local/apache2/bin:" + defaultPath, "HTTPD_PREFIX=/usr/local/apache2"},
		WorkingDir: "/usr/local/apache2",
	}
}

// nginxImage stands in for nginx:alpine: `nginx -g 'daemon off;'` serves
// /usr/share/nginx/html, with nginx's welcome page, on port 80.
func nginxImage(b *builder) (*rootfs, images.Config) {
	const docroot = "/usr/share/nginx/html"
	r := b.rootfs()
	r.userland(baseAccounts)
	r.file(docroot+"/index.html", 0o644, []byte("<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n"+
		"<body>\n<h1>Welcome to nginx!</h1>\n</body>\n</html>\n"))
	r.file("/usr/sbin/nginx", 0o755, serveScript("nginx", docroot))
	return r, images.Config{
		Cmd: []string{"nginx", "-g", "daemon off;"},
		Env: []string{"PATH=" + defaultPath},
	}
}

// serveScript is the server program of the web server stand-ins: busybox
// httpd serving docroot on port 80 in the foreground, ignoring the real
// server's arguments. As a container's PID 1 a process gets no default
// action for SIGTERM, so the script stops the server and exits on it
// itself; otherwise every pod deletion would wait out its grace period.
func serveScript(server, docroot string) []byte {
	return []byte(fmt.Sprintf(`#!/bin/sh
# Stand-in for %s: serves %s on port 80.
httpd -f -p 80 -h %s &
pid=$!
trap 'kill $pid; exit 0' TERM INT
wait $pid
`, server, docroot, docroot))
}

// jessieDnsutilsImage stands in for upstream's Debian image with dnsutils,
// which the DNS tests run beside agnhost to query the cluster DNS: dig,
// nslookup, host, getent and a shell, plus wget and curl.
func jessieDnsutilsImage(b *builder) (*rootfs, images.Config) {
	r := b.rootfs()
	r.tools(toolBash, toolDig, toolNslookup, toolHost, toolGetent, toolWget, toolCurl)
	r.userland(baseAccounts)
	return r, images.Config{
		Cmd: []string{"bash"},
		Env: []string{"PATH=" + defaultPath},
	}
}

// nonRootImage is upstream's nonroot: a shell image whose USER is 1234, for
// the runAsNonRoot tests.
func nonRootImage(b *builder) (*rootfs, images.Config) {
	r := b.rootfs()
	r.userland(baseAccounts)
	return r, images.Config{
		Cmd:  []string{"/bin/sh"},
		Env:  []string{"PATH=" + defaultPath},
		User: "1234",
	}
}

// nonewprivsImage is upstream's nonewprivs: /usr/local/bin/nnp, setuid
// root, prints the effective uid, so the allowPrivilegeEscalation tests
// see whether the setuid bit took effect.
func nonewprivsImage(b *builder) (*rootfs, images.Config) {
	r := b.rootfs()
	nnp, err := b.nnpBinary()
	if err != nil {
		r.fail(err)
	}
	r.file("/usr/local/bin/nnp", os.ModeSetuid|0o755, nnp)
	r.userland(baseAccounts)
	return r, images.Config{
		Cmd: []string{"nnp"},
		Env: []string{"PATH=" + defaultPath},
	}
}

// pauseImage is the upstream pause image run as an ordinary container
// (the sandbox image of Flotilla's node is flotilla.io/pause): Flotilla's
// pause program, run as 65535 as upstream's is.
func pauseImage(b *builder) (*rootfs, images.Config) {
	r := b.rootfs()
	bin, err := images.PauseBinary()
	if err != nil {
		r.fail(err)
	}
	r.file("/pause", 0o755, bin)
	return r, images.Config{Entrypoint: []string{"/pause"}, User: "65535:65535"}
}

// sampleAPIServerImage is upstream's sample-apiserver image: the binary at
// /sample-apiserver as entrypoint. The aggregator test passes its flags.
func sampleAPIServerImage(b *builder) (*rootfs, images.Config) {
	r := b.rootfs()
	r.binary(b.in.SampleAPIServer, "/sample-apiserver")
	r.etc(baseAccounts)
	r.dir("/tmp", os.ModeSticky|0o777)
	return r, images.Config{
		Entrypoint: []string{"/sample-apiserver"},
		Env:        []string{"PATH=" + defaultPath},
	}
}

// etcdImage stands in for upstream's etcd image with Debian's etcd 3.4
// (the v3 API the sample API server uses is the same) at
// /usr/local/bin/etcd, the command the aggregator test runs. Its data
// directory defaults to default.etcd in the working directory, /.
func etcdImage(b *builder) (*rootfs, images.Config) {
	r := b.rootfs()
	r.binary(etcdServer, "/usr/local/bin/etcd")
	r.etc(baseAccounts)
	r.dir("/tmp", os.ModeSticky|0o777)
	r.dir("/var/etcd", 0o700)
	return r, images.Config{
		Cmd:        []string{"/usr/local/bin/etcd"},
		Env:        []string{"PATH=" + defaultPath},
		WorkingDir: "/",
	}
}

// nnpSource is the nonewprivs program. Its output format is what
// test/e2e/common/node/security_context.go matches.
const nnpSource = `package main

import (
	"os"
	"strconv"
)

func main() {
	os.Stdout.WriteString("Effective uid: " + strconv.Itoa(os.Geteuid()) + "\n")
}
`

// nnpBinary compiles nnpSource into a static linux/amd64 executable, once.
func (b *builder) nnpBinary() ([]byte, error) {
	if b.nnp != nil {
		return b.nnp, nil
	}
	scratch, err := b.tempDir()
	if err != nil {
		return nil, err
	}
	src := filepath.Join(scratch, "nnp")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return nil, err
	}
	for name, data := range map[string]string{"go.mod": "module nnp\n\ngo 1.22\n", "main.go": nnpSource} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			return nil, err
		}
	}
	out := filepath.Join(scratch, "nnp.bin")
	cmd := exec.CommandContext(b.ctx, goTool(), "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = src
	// Static (no cgo), for the image's architecture, with the local
	// toolchain only and none of the caller's module settings.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64",
		"GOTOOLCHAIN=local", "GOFLAGS=", "GOWORK=off")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build nnp: %w: %s", err, bytes.TrimSpace(msg))
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	b.nnp = bin
	return bin, nil
}

// goTool is the go command: the one on PATH, else the toolchain's usual
// place on this project's machines.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// localhostCert returns the certificate and key porter serves TLS with
// (upstream ships such a pair in the image): self-signed for localhost,
// 127.0.0.1 and ::1, valid until 2084. It is derived from a fixed Ed25519
// seed, and Ed25519 signatures are deterministic, so the image is
// reproducible. Nothing verifies it: clients of porter's TLS ports skip
// verification.
func localhostCert() (certPEM, keyPEM []byte, err error) {
	seed := sha256.Sum256([]byte("flotilla conformance agnhost localhost.key"))
	key := ed25519.NewKeyFromSeed(seed[:])
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		NotBefore:             time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2084, 1, 29, 16, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("localhost certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("localhost key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// picture returns a small JPEG, a different colour for each name: the
// update-demo test only checks that data.json names it, but a browser
// pointed at the pod gets a picture.
func picture(name string) ([]byte, error) {
	sum := sha256.Sum256([]byte(name))
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			img.Set(x, y, color.RGBA{sum[0], sum[1], sum[2], 0xff})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		return nil, fmt.Errorf("encode %s.jpg: %w", name, err)
	}
	return buf.Bytes(), nil
}

// libDirs are the directories glibc's dynamic loader on Debian amd64
// searches by default, in its order; the images have no ld.so.cache, so
// these are where the loader looks in them too.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// elfDeps is what the dynamic loader needs to start a binary.
type elfDeps struct {
	interp string   // the program interpreter (PT_INTERP); "" for a static binary
	libs   []string // host paths of the shared libraries needed, directly or not
}

// resolveELFDeps finds the interpreter of the x86-64 executable at p and,
// following DT_NEEDED entries from it through each library found, the host
// path of every shared library it loads, searched as the loader does:
// each object's DT_RUNPATH (or DT_RPATH), then libDirs.
func resolveELFDeps(p string) (*elfDeps, error) {
	f, err := openAMD64(p)
	if err != nil {
		return nil, err
	}
	interp, err := interpreter(f)
	f.Close()
	if err != nil || interp == "" {
		return &elfDeps{}, err
	}
	d := &elfDeps{interp: interp}
	seen := map[string]bool{}
	for queue := []string{p}; len(queue) > 0; queue = queue[1:] {
		needed, search, err := dynamicSection(queue[0])
		if err != nil {
			return nil, err
		}
		for _, name := range needed {
			if name == path.Base(interp) {
				// libc names the loader, which is loaded already as
				// the interpreter and answers to its own name.
				continue
			}
			lib, err := findLib(name, search)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", queue[0], err)
			}
			if !seen[lib] {
				seen[lib] = true
				d.libs = append(d.libs, lib)
				queue = append(queue, lib)
			}
		}
	}
	return d, nil
}

// openAMD64 opens an ELF file and checks it is 64-bit x86 code, the only
// kind the images run.
func openAMD64(p string) (*elf.File, error) {
	f, err := elf.Open(p)
	if err != nil {
		return nil, err
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		f.Close()
		return nil, fmt.Errorf("%s: %v %v, want an x86-64 ELF file", p, f.Class, f.Machine)
	}
	return f, nil
}

// interpreter returns the PT_INTERP path of f, or "" if it has none.
func interpreter(f *elf.File) (string, error) {
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		buf := make([]byte, prog.Filesz)
		if _, err := prog.ReadAt(buf, 0); err != nil {
			return "", fmt.Errorf("read ELF interpreter: %w", err)
		}
		return string(bytes.TrimRight(buf, "\x00")), nil
	}
	return "", nil
}

// dynamicSection returns the DT_NEEDED names of the object at p and the
// directories of its DT_RUNPATH (or, without one, DT_RPATH), with $ORIGIN
// expanded.
func dynamicSection(p string) (needed, search []string, err error) {
	f, err := openAMD64(p)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if needed, err = f.DynString(elf.DT_NEEDED); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	paths, err := f.DynString(elf.DT_RUNPATH)
	if err == nil && len(paths) == 0 {
		paths, err = f.DynString(elf.DT_RPATH)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	origin := filepath.Dir(p)
	for _, list := range paths {
		for _, dir := range strings.Split(list, ":") {
			dir = strings.NewReplacer("${ORIGIN}", origin, "$ORIGIN", origin).Replace(dir)
			if dir != "" {
				search = append(search, dir)
			}
		}
	}
	return needed, search, nil
}

// findLib returns the first x86-64 file named name in search, then libDirs;
// a name with a slash is a path already.
func findLib(name string, search []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range append(slices.Clone(search), libDirs...) {
		p := filepath.Join(dir, name)
		// The loader, too, skips files of another class or machine.
		if f, err := openAMD64(p); err == nil {
			f.Close()
			return p, nil
		}
	}
	return "", fmt.Errorf("shared library %s not found in %v", name, append(search, libDirs...))
}

// checkDynamic returns an error unless p is a dynamically linked x86-64
// executable.
func checkDynamic(p string) error {
	f, err := openAMD64(p)
	if err != nil {
		return err
	}
	defer f.Close()
	interp, err := interpreter(f)
	if err != nil {
		return err
	}
	if interp == "" {
		return errors.New("statically linked; Debian's dynamically linked busybox is needed")
	}
	return nil
}
