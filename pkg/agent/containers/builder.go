package containers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	nodev1client "k8s.io/client-go/kubernetes/typed/node/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// Objects reads the ConfigMaps and Secrets env vars refer to: the data,
// and found false for a missing optional object.
type Objects interface {
	ConfigMapData(ctx context.Context, ns, name string, optional *bool) (data map[string][]byte, found bool, err error)
	SecretData(ctx context.Context, ns, name string, optional *bool) (data map[string][]byte, found bool, err error)
}

// Mounter prepares the volumes a container mounts and returns the
// mounts; vars are the container's environment, for subPathExpr.
type Mounter interface {
	Mounts(ctx context.Context, pod *corev1.Pod, c *corev1.Container, vars map[string]string) ([]*runtimeapi.Mount, error)
}

// Config is what a Builder needs.
type Config struct {
	DataDir string // the agent's data directory: pods' files and logs
	NodeIP  string // status.hostIP for the downward API
	// RuntimeClasses resolves a pod's runtimeClassName to its handler.
	RuntimeClasses nodev1client.RuntimeClassesGetter
	Objects        Objects
	Volumes        Mounter
	// Allocatable is the node's allocatable, for resourceFieldRefs of
	// limits a container leaves unset.
	Allocatable func() corev1.ResourceList
	// ClusterDNS are the nameservers of ClusterFirst pods (the kube-dns
	// Service's address); without any such pods get the node's
	// resolv.conf, with a warning, as with the kubelet.
	ClusterDNS []string
	// ClusterDomain is the cluster's DNS domain (cluster.local): the
	// search domains of ClusterFirst pods and pods' subdomains.
	ClusterDomain string
	// ResolvConf is the node's resolver file that Default pods (and the
	// search domains of ClusterFirst ones) take; "" is /etc/resolv.conf,
	// or systemd-resolved's file when that one names only its stub.
	ResolvConf string
	// Services are the Services whose addresses containers get as
	// environment variables; nil gives none (as a kubelet without an API
	// server).
	Services ServiceSource
	// Events records warnings about a pod (a resolv.conf cut to the
	// limits); nil records none.
	Events Recorder
}

// Recorder records an event about a pod.
type Recorder interface {
	Event(ctx context.Context, pod *corev1.Pod, eventType, reason, message string)
}

// Builder builds sandbox and container configs for one node's pods.
type Builder struct {
	cfg    Config
	warned warnedSet
}

// New is a Builder of cfg.
func New(cfg Config) *Builder { return &Builder{cfg: cfg} }

func (b *Builder) podDir(pod *corev1.Pod) string { return podrun.PodDir(b.cfg.DataDir, pod.UID) }

func (b *Builder) logDir(pod *corev1.Pod) string { return podrun.LogDir(b.cfg.DataDir, pod) }
