package containers

import (
	"context"
	"os"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/expansion"
	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// Container describes one attempt of a container.
func (b *Builder) Container(ctx context.Context, pod *corev1.Pod, c *corev1.Container, run *podrun.Run, attempt uint32, image podrun.Image) (*runtimeapi.ContainerConfig, error) {
	security, err := b.containerSecurityContext(pod, c, image)
	if err != nil {
		return nil, err
	}
	env, err := b.envFor(ctx, pod, c, run.PodIP)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	for _, e := range env {
		vars[e.Key] = string(e.Value)
	}
	mounts, err := b.cfg.Volumes.Mounts(ctx, pod, c, vars)
	if err != nil {
		return nil, err
	}
	for _, extra := range []func() (*runtimeapi.Mount, error){
		func() (*runtimeapi.Mount, error) { return b.etcHostsMount(pod, c, run.PodIP) },
		func() (*runtimeapi.Mount, error) { return b.terminationMessageMount(pod, c, attempt) },
	} {
		m, err := extra()
		if err != nil {
			return nil, err
		}
		if m != nil {
			mounts = append(mounts, m)
		}
	}
	cfg := &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: attempt},
		Image:      &runtimeapi.ImageSpec{Image: image.Ref, UserSpecifiedImage: c.Image},
		Command:    expansion.All(c.Command, vars),
		Args:       expansion.All(c.Args, vars),
		WorkingDir: c.WorkingDir,
		Envs:       env,
		Mounts:     mounts,
		Labels:     map[string]string{podrun.LabelPodName: pod.Name, podrun.LabelPodNamespace: pod.Namespace, podrun.LabelPodUID: string(pod.UID), podrun.LabelContainerName: c.Name},
		Annotations: map[string]string{
			"io.kubernetes.container.restartCount":           strconv.Itoa(int(attempt)),
			"io.kubernetes.container.terminationMessagePath": c.TerminationMessagePath,
		},
		LogPath:   filepath.Join(c.Name, strconv.Itoa(int(attempt))+".log"),
		Stdin:     c.Stdin,
		StdinOnce: c.StdinOnce,
		Tty:       c.TTY,
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       linuxResources(c),
			SecurityContext: security,
		},
	}
	if err := shareTargetPID(pod, c.Name, run, cfg.Linux.SecurityContext.NamespaceOptions); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(b.logDir(pod), c.Name), 0o755); err != nil {
		return nil, err
	}
	return cfg, nil
}

// linuxResources turns requests and limits into cgroup settings, as the
// kubelet does: shares from the cpu request, a CFS quota from the cpu
// limit, the memory limit as is.
func linuxResources(c *corev1.Container) *runtimeapi.LinuxContainerResources {
	r := &runtimeapi.LinuxContainerResources{CpuShares: 2, CpuPeriod: 100000}
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		r.CpuShares = max(q.MilliValue()*1024/1000, 2)
	} else if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		r.CpuShares = max(q.MilliValue()*1024/1000, 2)
	}
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		r.CpuQuota = max(q.MilliValue()*100, 1000)
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimitInBytes = q.Value()
	}
	return r
}

// terminationMessageMount gives the container a file of its own, writable
// by any user, at its terminationMessagePath; a new one per attempt so an
// old attempt's message is not shown for a new exit.
func (b *Builder) terminationMessageMount(pod *corev1.Pod, c *corev1.Container, attempt uint32) (*runtimeapi.Mount, error) {
	if c.TerminationMessagePath == "" {
		return nil, nil
	}
	dir := filepath.Join(b.podDir(pod), "containers", c.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, strconv.Itoa(int(attempt)))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o666)
	if err != nil {
		return nil, err
	}
	f.Close()
	// The umask took some bits: a container running as another user
	// must still be able to write its message.
	if err := os.Chmod(path, 0o666); err != nil {
		return nil, err
	}
	return &runtimeapi.Mount{ContainerPath: c.TerminationMessagePath, HostPath: path}, nil
}
