package images

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
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

// Busybox writes the docker-archive of BusyboxRef built from the static
// busybox binary at path (usually /bin/busybox), with the files and config
// BusyboxFiles returns.
func Busybox(w io.Writer, path string) error {
	files, cfg, err := BusyboxFiles(path)
	if err != nil {
		return err
	}
	return WriteArchive(w, BusyboxRef, files, cfg)
}

// BusyboxFiles returns the files and config of a busybox image built from
// the static busybox binary at path, for WriteArchive under any name: the
// binary at /bin/busybox, a symlink /bin/<applet> -> busybox for every
// applet `busybox --list` prints (/bin/sh included), /tmp (mode 1777),
// /etc/passwd and /etc/group with root and nobody, and /root and /var/run
// directories. Cmd is ["sh"] and PATH is set as in the Docker Hub image. The
// binary must be statically linked, since the image holds no libraries.
func BusyboxFiles(path string) ([]File, Config, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, Config{}, fmt.Errorf("images: read busybox: %w", err)
	}
	if err := checkStatic(bin); err != nil {
		return nil, Config{}, fmt.Errorf("images: busybox %s: %w", path, err)
	}
	applets, err := BusyboxApplets(path)
	if err != nil {
		return nil, Config{}, err
	}
	files := []File{
		{Path: "/bin/busybox", Mode: 0o755, Data: bin},
		{Path: "/tmp", Mode: os.ModeDir | os.ModeSticky | 0o777},
		{Path: "/root", Mode: os.ModeDir | 0o700},
		{Path: "/var/run", Mode: os.ModeDir | 0o755},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(
			"root:x:0:0:root:/root:/bin/sh\n" +
				"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(
			"root:x:0:\n" +
				"nobody:x:65534:\n")},
	}
	for _, a := range applets {
		files = append(files, File{Path: "/bin/" + a, Mode: os.ModeSymlink | 0o777, Link: "busybox"})
	}
	return files, Config{Cmd: []string{"sh"}, Env: []string{busyboxPath}}, nil
}

// BusyboxApplets runs `busybox --list` of the busybox binary at path once and
// returns the applet names (always including "sh"), without duplicates and
// without "busybox" itself. The binary may be static or dynamic.
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
	if !seen["sh"] {
		applets = append(applets, "sh")
	}
	return applets, nil
}

// checkStatic returns an error unless bin is an x86-64 ELF executable
// without a program interpreter (i.e. statically linked).
func checkStatic(bin []byte) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("machine %v, want %v", f.Machine, elf.EM_X86_64)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("dynamically linked (has an ELF interpreter); a static busybox is required")
		}
	}
	return nil
}
