// Package images builds the few container images a Flotilla node needs
// without any registry access, and imports them into containerd.
//
// Two images are provided:
//
//   - PauseRef, the sandbox ("pause") image. Its only file is /pause, a tiny
//     static linux/amd64 executable generated in code by PauseBinary: it
//     blocks in pause(2) and exits 0 on SIGTERM or SIGINT.
//   - BusyboxRef, a minimal busybox image assembled from the host's files,
//     so that workloads using `image: busybox` run offline: Debian's busybox
//     (the build whose shell runs programs on PATH; hack/install-deps.sh
//     unpacks it to DynamicBusybox) with the host's glibc, and wget and nc
//     from NetappletsBinary, a small static Go program (internal/netapplets)
//     embedded in flotilla, because Debian 12's busybox 1.35 crashes on
//     `wget -T` and has no `nc -z`.
//
// Images are written as docker-archive tarballs (the format accepted by
// `docker load` and `ctr images import`) by WriteArchive, Pause and Busybox
// (BusyboxFiles and BusyboxApplets give the busybox image's content for
// images of other names), and loaded into a containerd by Import /
// ImportArchive, which shell out to ctr. Imports are unpacked into
// containerd's default snapshotter (overlayfs), which is what the CRI plugin
// uses by default; use the "k8s.io" namespace for images the CRI plugin
// should see.
package images
