package sim

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Defaults of Config's zero fields.
const (
	DefaultNamePrefix         = "sim"
	DefaultPods               = 110
	DefaultLeaseRenewInterval = 10 * time.Second
	DefaultStatusInterval     = 40 * time.Second
	DefaultRestartDelay       = 10 * time.Second
	DefaultWorkers            = 16
	leaseDurationSeconds      = 40
)

// Config describes a set of simulated nodes.
type Config struct {
	// Nodes is how many nodes to run, named NamePrefix-0 … NamePrefix-(Nodes-1).
	Nodes      int
	NamePrefix string
	// CPU, Memory and Pods are each node's capacity (and allocatable).
	CPU, Memory resource.Quantity
	Pods        int
	// Labels are added to every node; Taints are set when a node is created.
	Labels map[string]string
	Taints []corev1.Taint

	// LeaseRenewInterval is how often each node's Lease is renewed.
	LeaseRenewInterval time.Duration
	// StatusInterval is how often each node's Ready heartbeat is
	// refreshed, rounded to a multiple of LeaseRenewInterval.
	StatusInterval time.Duration
	// RestartDelay is how long an exited container that will restart
	// stays terminated.
	RestartDelay time.Duration
	// Workers bounds the concurrent API writes of pods and of heartbeats.
	Workers int
	// DeleteNodesOnExit removes the nodes and their Leases when Run ends
	// instead of leaving them to go NotReady.
	DeleteNodesOnExit bool
	// Stats, when set, serves the nodes' resource usage (see StatsConfig);
	// without it the nodes announce no usage endpoint.
	Stats *StatsConfig
}

// withDefaults fills zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Nodes < 1 {
		return c, errors.New("nodes: want at least 1")
	}
	if c.NamePrefix == "" {
		c.NamePrefix = DefaultNamePrefix
	}
	if errs := validation.IsDNS1123Subdomain(nodeName(c.NamePrefix, c.Nodes-1)); len(errs) > 0 {
		return c, fmt.Errorf("name prefix %q: %v", c.NamePrefix, errs)
	}
	if c.CPU.IsZero() {
		c.CPU = resource.MustParse("32")
	}
	if c.Memory.IsZero() {
		c.Memory = resource.MustParse("256Gi")
	}
	if c.CPU.Sign() < 0 || c.Memory.Sign() < 0 {
		return c, errors.New("cpu and memory must not be negative")
	}
	if c.Pods == 0 {
		c.Pods = DefaultPods
	}
	if c.Pods < 0 || c.Pods > maxPodsPerNode {
		return c, fmt.Errorf("pods: want 1 to %d", maxPodsPerNode)
	}
	for k, v := range c.Labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return c, fmt.Errorf("label %q: %v", k, errs)
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return c, fmt.Errorf("label %s=%q: %v", k, v, errs)
		}
	}
	if c.LeaseRenewInterval <= 0 {
		c.LeaseRenewInterval = DefaultLeaseRenewInterval
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	if c.RestartDelay <= 0 {
		c.RestartDelay = DefaultRestartDelay
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	return c, nil
}

func nodeName(prefix string, i int) string { return fmt.Sprintf("%s-%d", prefix, i) }
