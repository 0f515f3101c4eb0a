package images

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
)

//go:generate go run ./internal/gennetapplets netapplets.bin.gz

// netappletsGz is internal/netapplets built as a static executable and
// gzip-compressed by `go generate` (TestNetappletsUpToDate fails when the
// sources changed since). It is committed rather than built here so that
// building flotilla stays a plain `go build`, and it is not the flotilla
// binary itself, which is far too large to copy into an image.
//
//go:embed netapplets.bin.gz
var netappletsGz []byte

// netappletsApplets are the busybox applets the busybox image takes from
// netapplets instead of busybox; see internal/netapplets for why.
var netappletsApplets = []string{"wget", "nc"}

// netappletsPath is where the busybox image holds the netapplets executable.
const netappletsPath = "/bin/flotilla-netapplets"

// NetappletsBinary returns the static linux/amd64 executable that provides
// wget and nc to the busybox image (the applet is chosen by the name it is
// run as).
func NetappletsBinary() ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(netappletsGz))
	if err != nil {
		return nil, fmt.Errorf("images: embedded netapplets: %w", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("images: embedded netapplets: %w", err)
	}
	return b, nil
}
