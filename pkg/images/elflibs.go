package images

import (
	"debug/elf"
	"fmt"
	"os"
	"path"
)

// libraryDirs are searched, in order, for the shared libraries a binary
// needs: the x86-64 directories of Debian's dynamic loader (which it also
// searches inside the image, with no ld.so.cache there).
var libraryDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
}

// elfInfo is what the image needs to know of an x86-64 executable.
type elfInfo struct {
	interp string   // PT_INTERP; "" when statically linked
	needed []string // DT_NEEDED
}

// readELF checks that the file is an x86-64 ELF object and returns its
// interpreter and needed libraries.
func readELF(name string) (elfInfo, error) {
	f, err := elf.Open(name)
	if err != nil {
		return elfInfo{}, fmt.Errorf("not an ELF executable: %w", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return elfInfo{}, fmt.Errorf("machine %v, want %v", f.Machine, elf.EM_X86_64)
	}
	var info elfInfo
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return elfInfo{}, fmt.Errorf("read interpreter: %w", err)
			}
			info.interp = string(trimNUL(b))
		}
	}
	if info.needed, err = f.ImportedLibraries(); err != nil {
		return elfInfo{}, fmt.Errorf("read needed libraries: %w", err)
	}
	return info, nil
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// sharedLibraryFiles returns image files for the dynamic loader and every
// shared library the executable at name needs, directly or through other
// libraries, copied from the host (symlinks resolved) to the paths the
// loader looks for them at. A static executable needs none.
func sharedLibraryFiles(name string) ([]File, error) {
	info, err := readELF(name)
	if err != nil {
		return nil, err
	}
	if info.interp == "" {
		return nil, nil
	}
	interp, err := os.ReadFile(info.interp)
	if err != nil {
		return nil, fmt.Errorf("dynamic loader: %w", err)
	}
	files := []File{{Path: info.interp, Mode: 0o755, Data: interp}}
	seen := map[string]bool{path.Base(info.interp): true}
	queue := info.needed
	for len(queue) > 0 {
		lib := queue[0]
		queue = queue[1:]
		if seen[lib] {
			continue
		}
		seen[lib] = true
		hostPath, err := findLibrary(lib)
		if err != nil {
			return nil, err
		}
		data, err := os.ReadFile(hostPath)
		if err != nil {
			return nil, fmt.Errorf("library %s: %w", lib, err)
		}
		files = append(files, File{Path: hostPath, Mode: 0o755, Data: data})
		libInfo, err := readELF(hostPath)
		if err != nil {
			return nil, fmt.Errorf("library %s: %w", hostPath, err)
		}
		queue = append(queue, libInfo.needed...)
	}
	return files, nil
}

// findLibrary returns the first libraryDirs entry holding the library.
func findLibrary(lib string) (string, error) {
	for _, d := range libraryDirs {
		p := path.Join(d, lib)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("library %s not found in %v", lib, libraryDirs)
}
