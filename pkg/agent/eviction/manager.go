package eviction

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// DefaultInterval is how often the manager reads the node, upstream's
// eviction monitoring interval.
const DefaultInterval = 10 * time.Second

// After evicting a pod the manager waits, up to podCleanupTimeout,
// polling every podCleanupPoll, until the pod has given back what it
// held, as upstream's kubelet does: otherwise the next reading, taken
// while the pod is still being torn down, would see the same shortage
// and evict a second pod for what the first one held.
const (
	podCleanupTimeout = 30 * time.Second
	podCleanupPoll    = time.Second
)

// Config is what a Manager needs.
type Config struct {
	// Hard are the hard eviction thresholds.
	Hard []Threshold
	// TransitionPeriod keeps a pressure condition True this long after
	// its threshold was last met (0 = DefaultPressureTransitionPeriod).
	TransitionPeriod time.Duration
	// Interval is how often the node is read (0 = DefaultInterval).
	Interval time.Duration
	Reader   Reader
	// Pods are the pods bound to the node.
	Pods func(ctx context.Context) ([]*corev1.Pod, error)
	// Usage measures the pods' use of res (memory or
	// ephemeral-storage).
	Usage func(ctx context.Context, pods []*corev1.Pod, res corev1.ResourceName) ([]Candidate, error)
	// Evict kills a pod and fails it with the message.
	Evict func(ctx context.Context, pod *corev1.Pod, message string) error
	// Reclaimed says whether an evicted pod has given back what it
	// held (its containers stopped, its volumes removed); nil: the
	// manager does not wait for it.
	Reclaimed func(ctx context.Context, pod *corev1.Pod) bool
	// Images frees image store space, nil for none.
	Images ImageCollector
	// NodeEvent records a Warning Event about the Node.
	NodeEvent func(reason, message string)
	// Changed is told when a pressure condition turns on or off, so the
	// node's status goes out at once.
	Changed func()
	Clock   clock.WithTicker
	Log     *slog.Logger
}

// ImageCollector removes unused images until the image store's file
// system has at least the given bytes free, or nothing more can go.
type ImageCollector interface {
	FreeSpace(ctx context.Context, wantAvailable int64) error
}

// Manager reports the node's pressure and evicts pods under it.
type Manager struct {
	cfg   Config
	conds *conditions

	mu   sync.Mutex
	last map[corev1.NodeConditionType]bool // what the conditions said last
}

// New is a Manager of cfg.
func New(cfg Config) *Manager {
	if cfg.TransitionPeriod <= 0 {
		cfg.TransitionPeriod = DefaultPressureTransitionPeriod
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Manager{cfg: cfg, conds: newConditions(cfg.Clock, cfg.TransitionPeriod), last: map[corev1.NodeConditionType]bool{}}
}

// Run reads the node every interval until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	t := m.cfg.Clock.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		m.Synchronize(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// Conditions are the node's pressure conditions now, without times.
func (m *Manager) Conditions() []corev1.NodeCondition {
	out := make([]corev1.NodeCondition, 0, len(pressureConditions))
	for _, c := range pressureConditions {
		out = append(out, condition(c, m.conds.active(c)))
	}
	return out
}

// Under says whether the node reports cond now.
func (m *Manager) Under(cond corev1.NodeConditionType) bool { return m.conds.active(cond) }

// Synchronize reads the node once, updates the conditions and, when a
// threshold is met, reclaims: unused images first for disk, then one pod.
// It returns the pod evicted, if any.
func (m *Manager) Synchronize(ctx context.Context) *corev1.Pod {
	r, err := m.cfg.Reader.Read(ctx)
	if err != nil {
		m.cfg.Log.Warn("read node resources", "err", err)
		return nil
	}
	met := crossed(r, m.cfg.Hard)
	m.conds.observe(met)
	m.notifyChanges()
	if len(met) == 0 {
		return nil
	}
	sortCrossed(met)
	t := met[0]
	res := signalResource[t.Signal]
	m.cfg.Log.Warn("eviction threshold met", "threshold", t.String(), "available", t.Available, "limit", t.Limit)
	if m.cfg.NodeEvent != nil {
		m.cfg.NodeEvent("EvictionThresholdMet", fmt.Sprintf("Attempting to reclaim %s", res))
	}
	if isDisk(t.Signal) && m.cfg.Images != nil {
		if t, err = m.reclaimImages(ctx, t); err != nil {
			m.cfg.Log.Warn("image garbage collection", "err", err)
		}
		if t.Threshold.Signal == "" {
			return nil // the images freed enough
		}
	}
	return m.evictOne(ctx, t)
}

// reclaimImages frees image space for a disk threshold and reads the
// node again: the threshold still met, or a zero Crossed when it no
// longer is.
func (m *Manager) reclaimImages(ctx context.Context, t Crossed) (Crossed, error) {
	if t.Signal == NodeFsInodesFree || t.Signal == ImageFsInodesFree {
		return t, nil
	}
	if err := m.cfg.Images.FreeSpace(ctx, t.Limit); err != nil {
		return t, err
	}
	r, err := m.cfg.Reader.Read(ctx)
	if err != nil {
		return t, err
	}
	for _, again := range crossed(r, []Threshold{t.Threshold}) {
		return again, nil
	}
	m.cfg.Log.Info("image garbage collection relieved the disk", "threshold", t.String())
	return Crossed{}, nil
}

func isDisk(s Signal) bool { return signalCondition[s] == corev1.NodeDiskPressure }

// evictOne evicts the first pod in upstream's order for t's resource.
func (m *Manager) evictOne(ctx context.Context, t Crossed) *corev1.Pod {
	res := signalResource[t.Signal]
	all, err := m.cfg.Pods(ctx)
	if err != nil {
		m.cfg.Log.Warn("list pods for eviction", "err", err)
		return nil
	}
	var pods []*corev1.Pod
	for _, p := range all {
		if !IsCritical(p) && podutil.IsPodActive(p) {
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		m.cfg.Log.Warn("eviction threshold met but no pod may be evicted", "threshold", t.String())
		return nil
	}
	rankBy := res
	if res != corev1.ResourceMemory {
		rankBy = corev1.ResourceEphemeralStorage // inodes and pids: by disk as the closest measure we have
	}
	cands, err := m.cfg.Usage(ctx, pods, rankBy)
	if err != nil || len(cands) == 0 {
		m.cfg.Log.Warn("measure pods for eviction", "err", err)
		return nil
	}
	Rank(cands, rankBy)
	victim := cands[0]
	msg := Message(t, victim)
	m.cfg.Log.Warn("evicting pod", "pod", victim.Pod.Namespace+"/"+victim.Pod.Name, "message", msg)
	if err := m.cfg.Evict(ctx, victim.Pod, msg); err != nil {
		m.cfg.Log.Warn("evict pod", "pod", victim.Pod.Namespace+"/"+victim.Pod.Name, "err", err)
		return nil
	}
	m.waitReclaimed(ctx, victim.Pod)
	return victim.Pod
}

// waitReclaimed waits until the evicted pod has given back what it held,
// podCleanupTimeout at most.
func (m *Manager) waitReclaimed(ctx context.Context, pod *corev1.Pod) {
	if m.cfg.Reclaimed == nil {
		return
	}
	start := m.cfg.Clock.Now()
	for !m.cfg.Reclaimed(ctx, pod) {
		if m.cfg.Clock.Since(start) >= podCleanupTimeout {
			m.cfg.Log.Warn("evicted pod not cleaned up in time; reading the node again", "pod", pod.Namespace+"/"+pod.Name, "waited", podCleanupTimeout)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-m.cfg.Clock.After(podCleanupPoll):
		}
	}
}

// notifyChanges tells Changed when a condition turned on or off.
func (m *Manager) notifyChanges() {
	m.mu.Lock()
	changed := false
	for _, c := range pressureConditions {
		if on := m.conds.active(c); on != m.last[c] {
			m.last[c], changed = on, true
		}
	}
	m.mu.Unlock()
	if changed && m.cfg.Changed != nil {
		m.cfg.Changed()
	}
}
