package server

import (
	"fmt"
	"sync"

	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/rest"

	"github.com/flotilla-io/flotilla/pkg/auth/bootstrappolicy"
	"github.com/flotilla-io/flotilla/pkg/pki"
)

// identities issues the server's components their own client
// certificates, signed in memory by the cluster CA at first use, so each
// acts with only the permissions its role grants instead of the
// loopback's system:masters. Nothing is written to disk: a restarted
// server issues new ones.
type identities struct {
	ca   *pki.Authority
	host func() string

	mu      sync.Mutex
	configs map[string]*rest.Config
}

func newIdentities(ca *pki.Authority, host func() string) *identities {
	return &identities{ca: ca, host: host, configs: map[string]*rest.Config{}}
}

// config returns a client configuration authenticating as name in groups.
func (id *identities) config(name string, groups ...string) (*rest.Config, error) {
	id.mu.Lock()
	defer id.mu.Unlock()
	if cfg, ok := id.configs[name]; ok {
		return rest.CopyConfig(cfg), nil
	}
	certPEM, keyPEM, err := id.ca.Issue(pki.LeafRequest{CommonName: name, Organization: groups})
	if err != nil {
		return nil, fmt.Errorf("client certificate for %s: %w", name, err)
	}
	cfg := &rest.Config{
		Host:            id.host(),
		TLSClientConfig: rest.TLSClientConfig{CAData: id.ca.CertPEM, CertData: certPEM, KeyData: keyPEM},
		QPS:             -1, // in-process components are not rate limited
		UserAgent:       "flotilla-server/" + name,
	}
	id.configs[name] = cfg
	return rest.CopyConfig(cfg), nil
}

// controller is the identity of a controller: its service account in
// kube-system, as upstream's controller manager with
// --use-service-account-credentials.
func (id *identities) controller(serviceAccount string) (*rest.Config, error) {
	return id.config(serviceaccount.MakeUsername("kube-system", serviceAccount),
		serviceaccount.AllServiceAccountsGroup, serviceaccount.MakeNamespaceGroupName("kube-system"))
}

// scheduler, controllerManager and node are the identities of the
// scheduler, of the shared informers the controllers read through (and
// their leader election), and of the in-process node agent.
func (id *identities) scheduler() (*rest.Config, error) {
	return id.config(bootstrappolicy.SchedulerUser)
}

func (id *identities) controllerManager() (*rest.Config, error) {
	return id.config(bootstrappolicy.ControllerManagerUser)
}

func (id *identities) node(name string) (*rest.Config, error) {
	return id.config("system:node:"+name, user.NodesGroup)
}

// controllerServiceAccounts maps the server's controllers (by the names
// ControllerConfig.Disable takes) to the service account each acts as.
var controllerServiceAccounts = map[string]string{
	"namespace":                "namespace-controller",
	"serviceaccount":           "service-account-controller",
	"serviceaccount-token":     "tokens-controller",
	"garbagecollector":         "generic-garbage-collector",
	"disruption":               "disruption-controller",
	"nodelifecycle":            "node-controller",
	"replicaset":               "replicaset-controller",
	"replicationcontroller":    "replication-controller",
	"deployment":               "deployment-controller",
	"daemonset":                "daemon-set-controller",
	"statefulset":              "statefulset-controller",
	"persistentvolume":         "persistent-volume-binder",
	"job":                      "job-controller",
	"cronjob":                  "cronjob-controller",
	"ttlafterfinished":         "ttl-after-finished-controller",
	"flowschema":               "flowschema-controller",
	"nodeipam":                 "node-ipam-controller",
	"endpoint":                 "endpoint-controller",
	"endpointslice":            "endpointslice-controller",
	"endpointslicemirroring":   "endpointslicemirroring-controller",
	"clusterdns":               "clusterdns-controller",
	"servicelb":                "servicelb-controller",
	"ingress":                  "ingress-controller",
	"horizontalpodautoscaling": "horizontal-pod-autoscaler",
	"clusterrole-aggregation":  "clusterrole-aggregation-controller",
	"nodepassword":             "node-password-controller",
	"resourcequota":            "resourcequota-controller",
	"podgc":                    "pod-garbage-collector",
}
