// Package resourcequota is the ResourceQuota admission plugin: upstream's
// generic plugin (k8s.io/apiserver/pkg/admission/plugin/resourcequota,
// which batches requests per namespace, checks every matching quota and
// charges status.used with conflict retries) fed with Flotilla's
// evaluators (pkg/quota). A quota whose status the controller has not
// filled in yet refuses what it would count, as upstream's does.
package resourcequota

import (
	"errors"

	"k8s.io/apiserver/pkg/admission"
	generic "k8s.io/apiserver/pkg/admission/plugin/resourcequota"

	"github.com/flotilla-io/flotilla/pkg/admission/internal/deps"
	"github.com/flotilla-io/flotilla/pkg/quota"
)

// PluginName is the name upstream gives the plugin.
const PluginName = generic.PluginName

// workers is how many namespaces are checked at once (upstream's 5).
const workers = 5

// New builds the plugin on the ResourceQuota informer. d.Stop ends its
// workers; it is required.
func New(d deps.Deps) (admission.Interface, error) {
	if d.Stop == nil {
		return nil, errors.New("ResourceQuota admission needs a stop channel")
	}
	p, err := generic.NewResourceQuota(nil, workers)
	if err != nil {
		return nil, err
	}
	p.SetDrainedNotification(d.Stop)
	p.SetExternalKubeClientSet(d.Client)
	p.SetExternalKubeInformerFactory(d.Informers)
	p.SetQuotaConfiguration(quota.NewConfiguration(nil))
	if err := p.ValidateInitialization(); err != nil {
		return nil, err
	}
	return p, nil
}
