package images

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// busyboxPath is the PATH of the busybox image (the Docker Hub image's value).
const busyboxPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Pause writes the docker-archive of PauseRef: PauseBinary at /pause,
// Entrypoint ["/pause"].
func Pause(w io.Writer) error {
	bin, err := PauseBinary()
	if err != nil {
		return err
	}
	return WriteArchive(w, PauseRef, []File{
		{Path: "/pause", Mode: 0o755, Data: bin},
	}, Config{Entrypoint: []string{"/pause"}})
}

// DynamicBusybox is where hack/install-deps.sh unpacks the busybox of
// Debian's busybox package (it conflicts with busybox-static, so it is not
// installed as a package). Unlike busybox-static's, its shell runs programs
// found on PATH rather than its own applets of the same names, which the
// image needs to reach its wget and nc (see BusyboxFiles). A variable so
// that tests can substitute it.
var DynamicBusybox = "/usr/local/lib/flotilla/busybox"

// Busybox writes the docker-archive of BusyboxRef, with the files and config
// BusyboxFiles(path) returns.
func Busybox(w io.Writer, path string) error {
	files, cfg, err := BusyboxFiles(path)
	if err != nil {
		return err
	}
	return WriteArchive(w, BusyboxRef, files, cfg)
}

// BusyboxFiles returns the files and config of a busybox image, for
// WriteArchive under any name. path names the host's busybox (the agent
// passes /bin/busybox).
//
// The image's wget and nc are not busybox's: Debian 12's busybox 1.35 (both
// builds) crashes on `wget -T SEC` and its nc has no -z (see
// internal/netapplets); /bin/wget and /bin/nc link to NetappletsBinary
// instead, at /bin/flotilla-netapplets. A shell that prefers its own applets
// over PATH (busybox's SH_STANDALONE and FEATURE_PREFER_APPLETS, which
// Debian's busybox-static has) would never run them, nor would its timeout,
// env or xargs. So when the busybox at path behaves that way, the image is
// built from DynamicBusybox instead; if that is missing or behaves the same,
// BusyboxFiles fails.
//
// The image holds: the busybox binary at /bin/busybox; if it is dynamically
// linked, its loader and libraries from the host, at the paths the loader
// searches (as upstream's busybox:glibc image carries glibc); a symlink
// /bin/<applet> -> busybox for every other applet `busybox --list` prints
// (/bin/sh included); /tmp (mode 1777); /etc/passwd and /etc/group with root
// and nobody; /etc/nsswitch.conf (files, then DNS for hosts, as upstream's
// glibc image); and /root and /var/run directories. Cmd is ["sh"] and PATH is
// set as in the Docker Hub image.
func BusyboxFiles(path string) ([]File, Config, error) {
	bb, err := busyboxForImage(path)
	if err != nil {
		return nil, Config{}, err
	}
	bin, err := os.ReadFile(bb)
	if err != nil {
		return nil, Config{}, fmt.Errorf("images: read busybox: %w", err)
	}
	libs, err := sharedLibraryFiles(bb)
	if err != nil {
		return nil, Config{}, fmt.Errorf("images: busybox %s: %w", bb, err)
	}
	applets, err := BusyboxApplets(bb)
	if err != nil {
		return nil, Config{}, err
	}
	tools, err := NetappletsBinary()
	if err != nil {
		return nil, Config{}, err
	}
	files := []File{
		{Path: "/bin/busybox", Mode: 0o755, Data: bin},
		{Path: netappletsPath, Mode: 0o755, Data: tools},
		{Path: "/tmp", Mode: os.ModeDir | os.ModeSticky | 0o777},
		{Path: "/root", Mode: os.ModeDir | 0o700},
		{Path: "/var/run", Mode: os.ModeDir | 0o755},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(
			"root:x:0:0:root:/root:/bin/sh\n" +
				"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(
			"root:x:0:\n" +
				"nobody:x:65534:\n")},
		{Path: "/etc/nsswitch.conf", Mode: 0o644, Data: []byte(
			"passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n")},
	}
	files = append(files, libs...)
	for _, a := range applets {
		if slices.Contains(netappletsApplets, a) {
			continue
		}
		files = append(files, File{Path: "/bin/" + a, Mode: os.ModeSymlink | 0o777, Link: "busybox"})
	}
	for _, a := range netappletsApplets {
		files = append(files, File{Path: "/bin/" + a, Mode: os.ModeSymlink | 0o777, Link: filepath.Base(netappletsPath)})
	}
	return files, Config{Cmd: []string{"sh"}, Env: []string{busyboxPath}}, nil
}

// busyboxForImage returns the busybox binary the image is made of: path,
// if it is a busybox whose shell runs programs found on PATH in preference
// to its own applets, else DynamicBusybox if that one does.
func busyboxForImage(path string) (string, error) {
	if _, err := readELF(path); err != nil {
		return "", fmt.Errorf("images: busybox %s: %w", path, err)
	}
	// Fails for anything but a busybox.
	if _, err := BusyboxApplets(path); err != nil {
		return "", err
	}
	ok, err := shellRunsPathPrograms(path)
	if err != nil {
		return "", err
	}
	if ok {
		return path, nil
	}
	reason := "missing"
	if DynamicBusybox != "" && DynamicBusybox != path {
		if _, err := os.Stat(DynamicBusybox); err == nil {
			if _, err := readELF(DynamicBusybox); err != nil {
				return "", fmt.Errorf("images: busybox %s: %w", DynamicBusybox, err)
			}
			ok, err := shellRunsPathPrograms(DynamicBusybox)
			if err != nil {
				return "", err
			}
			if ok {
				return DynamicBusybox, nil
			}
			reason = "also prefers its applets"
		}
	}
	return "", fmt.Errorf("images: the shell of busybox %s runs its own applets instead of the programs on PATH "+
		"(as Debian's busybox-static does), so the image's wget and nc would be unreachable; "+
		"the alternative, Debian's busybox package's binary at %s, is %s (hack/install-deps.sh unpacks it)",
		path, DynamicBusybox, reason)
}

// shellRunsPathPrograms reports whether `busybox sh -c wget` runs a program
// named wget found on PATH rather than busybox's own wget applet.
func shellRunsPathPrograms(bb string) (bool, error) {
	dir, err := os.MkdirTemp("", "flotilla-busybox-probe-")
	if err != nil {
		return false, fmt.Errorf("images: %w", err)
	}
	defer os.RemoveAll(dir)
	const marker = "flotilla-path-probe"
	script := "#!" + bb + " sh\necho " + marker + "\n"
	if err := os.WriteFile(filepath.Join(dir, "wget"), []byte(script), 0o755); err != nil {
		return false, fmt.Errorf("images: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bb, "sh", "-c", "wget")
	cmd.Env = []string{"PATH=" + dir}
	// busybox's own wget, run without a URL, prints its usage and fails;
	// only the probe script prints the marker.
	out, _ := cmd.Output()
	if ctx.Err() != nil {
		return false, fmt.Errorf("images: probe of busybox %s timed out", bb)
	}
	return strings.TrimSpace(string(out)) == marker, nil
}

// BusyboxApplets runs `busybox --list` of the busybox binary at path once and
// returns the applet names (always including "sh"), without duplicates and
// without "busybox" itself; it fails when there are none. The binary may be
// static or dynamic.
func BusyboxApplets(path string) ([]string, error) {
	var stderr bytes.Buffer
	cmd := exec.Command(path, "--list")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("images: %s --list: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	seen := map[string]bool{"busybox": true}
	var applets []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		a := strings.TrimSpace(sc.Text())
		if a == "" || seen[a] || strings.ContainsAny(a, "/\x00") || a == "." || a == ".." {
			continue
		}
		seen[a] = true
		applets = append(applets, a)
	}
	if len(applets) == 0 {
		return nil, fmt.Errorf("images: %s --list printed no applets: not a busybox", path)
	}
	if !seen["sh"] {
		applets = append(applets, "sh")
	}
	return applets, nil
}
