package agent

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Log rotation defaults, the kubelet's: 10 MiB per file, 5 files.
const (
	defaultLogMaxSize  = 10 << 20
	defaultLogMaxFiles = 5
	rotateEvery        = 10 * time.Second
)

// rotateLogs renames container logs that outgrew the size limit and asks
// the runtime to reopen them, keeping at most LogMaxFiles files per
// container (the live one included), as the kubelet does.
func (a *Agent) rotateLogs(ctx context.Context) {
	resp, err := a.runtime.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
	}})
	if err != nil {
		return
	}
	for _, c := range resp.Containers {
		if c.Labels[podrun.LabelPodUID] == "" {
			continue // not ours
		}
		st, err := a.runtime.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
		if err != nil || st.Status.LogPath == "" {
			continue
		}
		path := st.Status.LogPath
		fi, err := os.Stat(path)
		if err != nil || fi.Size() < a.cfg.LogMaxSize {
			continue
		}
		rotated := path + "." + time.Now().UTC().Format("20060102-150405.000000")
		if err := os.Rename(path, rotated); err != nil {
			continue
		}
		if _, err := a.runtime.Runtime.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: c.Id}); err != nil {
			// Put it back so the runtime keeps a file to write to.
			_ = os.Rename(rotated, path)
			a.log.Warn("reopen container log", "container", c.Id, "err", err)
			continue
		}
		pruneRotated(path, a.cfg.LogMaxFiles-1)
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
