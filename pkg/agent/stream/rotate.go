package stream

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// Log rotation defaults, the kubelet's: 10 MiB per file, 5 files.
const (
	DefaultLogMaxSize  = 10 << 20
	DefaultLogMaxFiles = 5
)

// rotateEvery is how often logs are checked.
const rotateEvery = 10 * time.Second

// RotateRuntime is the CRI calls log rotation makes.
type RotateRuntime interface {
	ListContainers(ctx context.Context, in *runtimeapi.ListContainersRequest, opts ...grpc.CallOption) (*runtimeapi.ListContainersResponse, error)
	ContainerStatus(ctx context.Context, in *runtimeapi.ContainerStatusRequest, opts ...grpc.CallOption) (*runtimeapi.ContainerStatusResponse, error)
	ReopenContainerLog(ctx context.Context, in *runtimeapi.ReopenContainerLogRequest, opts ...grpc.CallOption) (*runtimeapi.ReopenContainerLogResponse, error)
}

// Rotator bounds the logs of the running containers: at most maxFiles
// files per container (the live one included), each rotated at maxSize
// bytes.
type Rotator struct {
	rt       RotateRuntime
	maxSize  int64
	maxFiles int
	log      *slog.Logger
}

// NewRotator is a Rotator of rt's containers.
func NewRotator(rt RotateRuntime, maxSize int64, maxFiles int, log *slog.Logger) *Rotator {
	return &Rotator{rt: rt, maxSize: maxSize, maxFiles: maxFiles, log: log}
}

// Run rotates now and every 10 seconds until ctx ends.
func (r *Rotator) Run(ctx context.Context) {
	t := time.NewTicker(rotateEvery)
	defer t.Stop()
	for {
		r.rotate(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// rotate renames container logs that outgrew the size limit and asks the
// runtime to reopen them, keeping at most maxFiles files per container
// (the live one included), as the kubelet does.
func (r *Rotator) rotate(ctx context.Context) {
	resp, err := r.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
	}})
	if err != nil {
		return
	}
	for _, c := range resp.Containers {
		if c.Labels[podrun.LabelPodUID] == "" {
			continue // not ours
		}
		st, err := r.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
		if err != nil || st.Status.LogPath == "" {
			continue
		}
		path := st.Status.LogPath
		fi, err := os.Stat(path)
		if err != nil || fi.Size() < r.maxSize {
			continue
		}
		rotated := path + "." + time.Now().UTC().Format("20060102-150405.000000")
		if err := os.Rename(path, rotated); err != nil {
			continue
		}
		if _, err := r.rt.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: c.Id}); err != nil {
			// Put it back so the runtime keeps a file to write to.
			_ = os.Rename(rotated, path)
			r.log.Warn("reopen container log", "container", c.Id, "err", err)
			continue
		}
		pruneRotated(path, r.maxFiles-1)
	}
}

// pruneRotated keeps the newest keep rotated files of a log.
func pruneRotated(path string, keep int) {
	matches, _ := filepath.Glob(path + ".*")
	var rotated []string
	for _, m := range matches {
		if !strings.HasSuffix(m, ".tmp") {
			rotated = append(rotated, m)
		}
	}
	sort.Strings(rotated) // timestamps sort in time order
	for len(rotated) > keep {
		_ = os.Remove(rotated[0])
		rotated = rotated[1:]
	}
}
