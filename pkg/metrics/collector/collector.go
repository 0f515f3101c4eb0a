package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corev1listers "k8s.io/client-go/listers/core/v1"

	"github.com/flotilla-io/flotilla/pkg/extensions"
	"github.com/flotilla-io/flotilla/pkg/metrics/scrape"
	"github.com/flotilla-io/flotilla/pkg/metrics/storage"
)

// Defaults of Config.
const (
	DefaultResolution  = 15 * time.Second
	DefaultConcurrency = 64
	// logEvery is how often a node that keeps failing is logged again.
	logEvery = 5 * time.Minute
)

// Fetcher scrapes a node.
type Fetcher interface {
	// Fetch scrapes base + /metrics/resource.
	Fetch(ctx context.Context, base string) (*scrape.Batch, error)
	// FromHandler scrapes an agent of this process through its handler.
	FromHandler(ctx context.Context, h http.Handler) (*scrape.Batch, error)
}

// Config is what a Collector needs.
type Config struct {
	// Resolution is the time between rounds (0 = DefaultResolution).
	Resolution time.Duration
	// Timeout bounds one node's scrape (0 = 90% of Resolution, as
	// metrics-server's).
	Timeout time.Duration
	// Concurrency is how many nodes are scraped at once (0 =
	// DefaultConcurrency).
	Concurrency int
	Nodes       corev1listers.NodeLister
	Fetcher     Fetcher
	// Local returns the stats handler of an agent running in this
	// process for the node, or nil.
	Local   func(node string) http.Handler
	Storage *storage.Storage
	Log     *slog.Logger
}

// Collector runs the rounds.
type Collector struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	lastLog   map[string]time.Time // failing nodes, when last logged
	lastRound Round
	// noEndpointLog is when nodes without a stats endpoint were last
	// counted in the log (once for all of them: a `flotilla sim` without
	// a token announces none for any of its nodes).
	noEndpointLog time.Time
}

// Round is what one round did.
type Round struct {
	Start    time.Time
	Duration time.Duration
	Nodes    int // nodes listed
	Answered int // nodes whose metrics were stored
	Pods     int // pods with samples
}

// New is a Collector of cfg.
func New(cfg Config) *Collector {
	if cfg.Resolution <= 0 {
		cfg.Resolution = DefaultResolution
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = cfg.Resolution * 9 / 10
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Collector{cfg: cfg, log: cfg.Log, lastLog: map[string]time.Time{}}
}

// Run collects once right away and then every Resolution until ctx ends;
// a round that overruns delays the next one.
func (c *Collector) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.Resolution)
	defer t.Stop()
	for {
		r := c.Collect(ctx)
		c.log.Debug("metrics round", "nodes", r.Nodes, "answered", r.Answered, "pods", r.Pods, "took", r.Duration)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// LastRound is the last finished round.
func (c *Collector) LastRound() Round {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastRound
}

// Collect runs one round: every node is scraped and the answers stored.
func (c *Collector) Collect(ctx context.Context) Round {
	r := Round{Start: time.Now()}
	nodes, err := c.cfg.Nodes.List(labels.Everything())
	if err != nil {
		c.log.Error("list nodes for metrics", "err", err)
		return r
	}
	r.Nodes = len(nodes)
	var (
		mu         sync.Mutex
		batches    = make(map[string]*scrape.Batch, len(nodes))
		wg         sync.WaitGroup
		sem        = make(chan struct{}, c.cfg.Concurrency)
		noEndpoint atomic.Int64
	)
	for _, n := range nodes {
		wg.Add(1)
		go func(n *corev1.Node) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			b, err := c.scrape(ctx, n)
			switch {
			case errors.Is(err, errNoEndpoint):
				noEndpoint.Add(1)
				return
			case err != nil:
				if ctx.Err() == nil {
					c.failed(n.Name, err)
				}
				return
			}
			c.answered(n.Name)
			mu.Lock()
			batches[n.Name] = b
			mu.Unlock()
		}(n)
	}
	wg.Wait()
	if ctx.Err() != nil {
		return r
	}
	c.cfg.Storage.Store(batches)
	r.Answered = len(batches)
	for _, b := range batches {
		r.Pods += b.Pods()
	}
	r.Duration = time.Since(r.Start)
	c.mu.Lock()
	c.lastRound = r
	// Forget failures of nodes that are gone.
	if len(c.lastLog) > 0 {
		listed := make(map[string]bool, len(nodes))
		for _, n := range nodes {
			listed[n.Name] = true
		}
		for name := range c.lastLog {
			if !listed[name] {
				delete(c.lastLog, name)
			}
		}
	}
	logNoEndpoint := noEndpoint.Load() > 0 && r.Start.Sub(c.noEndpointLog) >= logEvery
	if logNoEndpoint {
		c.noEndpointLog = r.Start
	}
	c.mu.Unlock()
	if logNoEndpoint {
		c.log.Info("nodes announce no stats endpoint and have no metrics", "nodes", noEndpoint.Load())
	}
	return r
}

// errNoEndpoint: the node tells no way to reach its stats.
var errNoEndpoint = errors.New("the node reports no stats endpoint")

func (c *Collector) scrape(ctx context.Context, n *corev1.Node) (*scrape.Batch, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if c.cfg.Local != nil {
		if h := c.cfg.Local(n.Name); h != nil {
			return c.cfg.Fetcher.FromHandler(ctx, h)
		}
	}
	base, err := Endpoint(n)
	if err != nil {
		return nil, err
	}
	return c.cfg.Fetcher.Fetch(ctx, base)
}

// Endpoint is the base URL of a node's stats endpoints.
func Endpoint(n *corev1.Node) (string, error) {
	if base := n.Annotations[extensions.StatsEndpointAnnotation]; base != "" {
		return base, nil
	}
	// A simulated node's address is made up: it is never dialled.
	if n.Annotations[extensions.SimulatedNodeAnnotation] == "true" {
		return "", errNoEndpoint
	}
	port := n.Status.DaemonEndpoints.KubeletEndpoint.Port
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && a.Address != "" && port > 0 {
			return "https://" + net.JoinHostPort(a.Address, strconv.Itoa(int(port))), nil
		}
	}
	return "", errNoEndpoint
}

// failed logs a node that did not answer, at most once per logEvery.
func (c *Collector) failed(node string, err error) {
	c.mu.Lock()
	last, seen := c.lastLog[node]
	now := time.Now()
	if seen && now.Sub(last) < logEvery {
		c.mu.Unlock()
		return
	}
	c.lastLog[node] = now
	c.mu.Unlock()
	c.log.Warn("node metrics not collected; the node is left out until it answers", "node", node, "err", fmt.Errorf("scrape: %w", err))
}

// answered forgets a node's failures, so its next one is logged at once.
func (c *Collector) answered(node string) {
	c.mu.Lock()
	delete(c.lastLog, node)
	c.mu.Unlock()
}
