package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

const (
	// PauseRef is the sandbox image. The agent configures it as
	// containerd's CRI sandbox_image; containerd lists it under this name.
	PauseRef = "flotilla.io/pause:3.10"
	// BusyboxRef is the busybox image built from the host's busybox (see
	// BusyboxFiles), so pods using `image: busybox` run without a registry.
	// containerd normalizes "busybox" to this name.
	BusyboxRef = "docker.io/library/busybox:latest"
)

// epoch is the fixed timestamp used for every file and the image creation
// time, so archives (and thus image IDs) are reproducible.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// File is one file of an image layer.
type File struct {
	// Path is the absolute (or root-relative) path inside the image.
	Path string
	// Mode holds the permission bits plus optional os.ModeDir,
	// os.ModeSymlink, os.ModeSetuid, os.ModeSetgid and os.ModeSticky.
	Mode os.FileMode
	// Data is the content of a regular file.
	Data []byte
	// Link is the symlink target; a non-empty Link makes File a symlink.
	Link string
}

// Config is the part of the OCI image config the agent cares about.
type Config struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	// User is the user (and optionally group) the process runs as, in the
	// image-config form "UID", "UID:GID" or "NAME"; empty means root.
	User string
}

// imageConfig is the serialized OCI/docker image configuration.
type imageConfig struct {
	Architecture string          `json:"architecture"`
	OS           string          `json:"os"`
	Created      time.Time       `json:"created"`
	Config       containerConfig `json:"config"`
	RootFS       rootFS          `json:"rootfs"`
	History      []history       `json:"history"`
}

type containerConfig struct {
	Env        []string `json:"Env,omitempty"`
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
	User       string   `json:"User,omitempty"`
}

type rootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

type history struct {
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
}

// manifestEntry is one element of a docker-archive manifest.json.
type manifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// WriteArchive writes a docker-archive tarball (manifest.json, the config
// JSON named by its sha256, one uncompressed layer tar) holding a single-layer
// linux/amd64 image tagged ref, in the format accepted by `ctr images import`
// and `docker load`. Parent directories of the files are added to the layer
// (mode 0755) unless listed explicitly. The output is deterministic: equal
// inputs give identical bytes and hence a stable image ID.
func WriteArchive(w io.Writer, ref string, files []File, cfg Config) error {
	if ref == "" {
		return fmt.Errorf("images: empty image reference")
	}
	layer, err := layerTar(files)
	if err != nil {
		return err
	}
	diffID := sha256.Sum256(layer)
	diffHex := hex.EncodeToString(diffID[:])

	config, err := json.Marshal(imageConfig{
		Architecture: "amd64",
		OS:           "linux",
		Created:      epoch,
		Config: containerConfig{
			Env:        cfg.Env,
			Entrypoint: cfg.Entrypoint,
			Cmd:        cfg.Cmd,
			WorkingDir: cfg.WorkingDir,
			User:       cfg.User,
		},
		RootFS:  rootFS{Type: "layers", DiffIDs: []string{"sha256:" + diffHex}},
		History: []history{{Created: epoch, CreatedBy: "flotilla pkg/images"}},
	})
	if err != nil {
		return fmt.Errorf("images: encode config: %w", err)
	}
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	layerName := diffHex + "/layer.tar"

	manifest, err := json.Marshal([]manifestEntry{{
		Config:   configName,
		RepoTags: []string{ref},
		Layers:   []string{layerName},
	}})
	if err != nil {
		return fmt.Errorf("images: encode manifest: %w", err)
	}

	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(dirHeader(diffHex+"/", 0o755)); err != nil {
		return fmt.Errorf("images: write archive: %w", err)
	}
	for _, e := range []struct {
		name string
		data []byte
	}{{layerName, layer}, {configName, config}, {"manifest.json", manifest}} {
		if err := writeTarFile(tw, e.name, 0o644, e.data); err != nil {
			return fmt.Errorf("images: write archive: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("images: write archive: %w", err)
	}
	return nil
}

// layerTar builds the uncompressed layer tar for files, sorted by path so
// that every directory precedes its contents.
func layerTar(files []File) ([]byte, error) {
	entries := make(map[string]File, len(files))
	for _, f := range files {
		p, err := cleanPath(f.Path)
		if err != nil {
			return nil, err
		}
		if _, dup := entries[p]; dup {
			return nil, fmt.Errorf("images: duplicate path %q", f.Path)
		}
		f.Path = p
		entries[p] = f
	}
	// Add missing parent directories.
	for p := range entries {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if e, ok := entries[d]; ok {
				if !e.Mode.IsDir() || e.Link != "" {
					return nil, fmt.Errorf("images: %q is not a directory but has children", "/"+d)
				}
				continue
			}
			entries[d] = File{Path: d, Mode: os.ModeDir | 0o755}
		}
	}
	names := make([]string, 0, len(entries))
	for p := range entries {
		names = append(names, p)
	}
	sort.Strings(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range names {
		f := entries[p]
		var err error
		switch {
		case f.Link != "" || f.Mode&os.ModeSymlink != 0:
			if f.Link == "" {
				return nil, fmt.Errorf("images: symlink %q has no target", "/"+p)
			}
			h := baseHeader(p, tar.TypeSymlink, 0o777)
			h.Linkname = f.Link
			err = tw.WriteHeader(h)
		case f.Mode.IsDir():
			err = tw.WriteHeader(dirHeader(p+"/", tarMode(f.Mode)))
		case f.Mode.IsRegular():
			err = writeTarFile(tw, p, tarMode(f.Mode), f.Data)
		default:
			return nil, fmt.Errorf("images: unsupported file type %v for %q", f.Mode.Type(), "/"+p)
		}
		if err != nil {
			return nil, fmt.Errorf("images: write layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("images: write layer: %w", err)
	}
	return buf.Bytes(), nil
}

// cleanPath turns an image path into a clean root-relative tar name.
func cleanPath(p string) (string, error) {
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	if c == "" || p == "" {
		return "", fmt.Errorf("images: invalid file path %q", p)
	}
	return c, nil
}

// tarMode converts permission and special bits of an os.FileMode to the tar
// (Unix) representation.
func tarMode(m os.FileMode) int64 {
	mode := int64(m.Perm())
	if m&os.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

func baseHeader(name string, typ byte, mode int64) *tar.Header {
	return &tar.Header{
		Typeflag: typ,
		Name:     name,
		Mode:     mode,
		ModTime:  epoch,
		Uname:    "root",
		Gname:    "root",
		Format:   tar.FormatPAX,
	}
}

func dirHeader(name string, mode int64) *tar.Header {
	return baseHeader(name, tar.TypeDir, mode)
}

func writeTarFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	h := baseHeader(name, tar.TypeReg, mode)
	h.Size = int64(len(data))
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}
