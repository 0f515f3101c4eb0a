package admission

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/admission"

	"github.com/flotilla-io/flotilla/pkg/admission/defaultingressclass"
	"github.com/flotilla-io/flotilla/pkg/admission/defaulttolerationseconds"
	"github.com/flotilla-io/flotilla/pkg/admission/internal/deps"
	"github.com/flotilla-io/flotilla/pkg/admission/limitranger"
	"github.com/flotilla-io/flotilla/pkg/admission/namespacelifecycle"
	"github.com/flotilla-io/flotilla/pkg/admission/noderestriction"
	"github.com/flotilla-io/flotilla/pkg/admission/podpreset"
	"github.com/flotilla-io/flotilla/pkg/admission/podsecurity"
	"github.com/flotilla-io/flotilla/pkg/admission/priority"
	"github.com/flotilla-io/flotilla/pkg/admission/resourcequota"
	"github.com/flotilla-io/flotilla/pkg/admission/runtimeclass"
	"github.com/flotilla-io/flotilla/pkg/admission/serviceaccount"
)

// Deps is what plugins may use to read the cluster: a client and shared
// informers on the server's loopback connection. The server starts the
// informers once it serves; plugins wait for their caches to sync.
type Deps = deps.Deps

// Plugin names an admission plugin and builds it.
type Plugin struct {
	Name string
	New  func(Deps) (admission.Interface, error)
}

// Plugins is the chain in upstream kube-apiserver's order (its
// AllOrderedPlugins): the mutating phase runs every plugin's Admit in
// this order, then the validating phase every plugin's Validate, so a
// later plugin sees what an earlier one set (ResourceQuota, last, counts
// what LimitRanger defaulted).
var Plugins = []Plugin{
	{namespacelifecycle.PluginName, namespacelifecycle.New},
	{podpreset.PluginName, podpreset.NewFromDeps}, // upstream: after NamespaceLifecycle, before LimitRanger and ServiceAccount
	{limitranger.PluginName, limitranger.New},
	{serviceaccount.PluginName, serviceaccount.New},
	{noderestriction.PluginName, noderestriction.NewFromDeps},
	{podsecurity.PluginName, podsecurity.New},
	{priority.PluginName, priority.New},
	{defaulttolerationseconds.PluginName, defaulttolerationseconds.New},
	{runtimeclass.PluginName, runtimeclass.New},
	{defaultingressclass.PluginName, defaultingressclass.New},
	{resourcequota.PluginName, resourcequota.New}, // upstream: the last validating plugin
}

// Without is Plugins minus the ones named, in Plugins' order: the
// chain of a server started with --disable-admission-plugins. A name
// that is not a plugin's is an error, so a misspelt flag cannot leave a
// plugin on that its operator meant to turn off.
func Without(names []string) ([]Plugin, error) {
	off := make(map[string]bool, len(names))
	for _, n := range names {
		if !slices.ContainsFunc(Plugins, func(p Plugin) bool { return p.Name == n }) {
			return nil, fmt.Errorf("admission plugin %q is unknown (known: %s)", n, strings.Join(Names(), ", "))
		}
		off[n] = true
	}
	var on []Plugin
	for _, p := range Plugins {
		if !off[p.Name] {
			on = append(on, p)
		}
	}
	return on, nil
}

// Names lists every plugin's name, in Plugins' order.
func Names() []string {
	names := make([]string, len(Plugins))
	for i, p := range Plugins {
		names[i] = p.Name
	}
	return names
}

// Chain runs the plugins in order. It implements both phases of
// k8s.io/apiserver's admission.Interface.
type Chain struct {
	names   []string
	plugins []admission.Interface
	observe Observer
}

// Observer is told how long one plugin took over one phase ("admit" or
// "validate") of one operation, and whether it refused.
type Observer = func(plugin, phase string, op admission.Operation, rejected bool, d time.Duration)

// SetObserver has every plugin call timed and reported to observe (the
// API server's per-plugin latency series). Set it before the chain
// serves.
func (c *Chain) SetObserver(observe Observer) { c.observe = observe }

var (
	_ admission.MutationInterface   = (*Chain)(nil)
	_ admission.ValidationInterface = (*Chain)(nil)
)

// New builds every plugin of Plugins.
func New(deps Deps) (*Chain, error) {
	return NewFrom(deps, Plugins)
}

// NewFrom builds the given plugins, in the given order.
func NewFrom(deps Deps, plugins []Plugin) (*Chain, error) {
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	c := &Chain{}
	for _, p := range plugins {
		pl, err := p.New(deps)
		if err != nil {
			return nil, fmt.Errorf("admission plugin %s: %w", p.Name, err)
		}
		c.names = append(c.names, p.Name)
		c.plugins = append(c.plugins, pl)
	}
	return c, nil
}

// Names lists the chain's plugins in the order they run.
func (c *Chain) Names() []string { return append([]string(nil), c.names...) }

// Handles is true: some plugin may care about any operation.
func (c *Chain) Handles(admission.Operation) bool { return true }

// Admit runs the mutating phase. The first refusal ends it and is
// returned as the plugin gave it.
func (c *Chain) Admit(ctx context.Context, a admission.Attributes, o admission.ObjectInterfaces) error {
	for i, p := range c.plugins {
		m, ok := p.(admission.MutationInterface)
		if !ok || !p.Handles(a.GetOperation()) {
			continue
		}
		start := time.Now()
		err := m.Admit(ctx, a, o)
		c.report(i, "admit", a.GetOperation(), err, start)
		if err != nil {
			return err
		}
	}
	return nil
}

// Validate runs the validating phase, after the object was validated and
// just before it is stored.
func (c *Chain) Validate(ctx context.Context, a admission.Attributes, o admission.ObjectInterfaces) error {
	for i, p := range c.plugins {
		v, ok := p.(admission.ValidationInterface)
		if !ok || !p.Handles(a.GetOperation()) {
			continue
		}
		start := time.Now()
		err := v.Validate(ctx, a, o)
		c.report(i, "validate", a.GetOperation(), err, start)
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Chain) report(plugin int, phase string, op admission.Operation, err error, start time.Time) {
	if c.observe != nil {
		c.observe(c.names[plugin], phase, op, err != nil, time.Since(start))
	}
}
