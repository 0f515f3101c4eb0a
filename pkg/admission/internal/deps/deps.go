// Package deps holds what admission plugins are built from, apart from
// pkg/admission so plugins need not import the chain that lists them.
package deps

import (
	"log/slog"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Deps is what plugins may use to read the cluster: a client and shared
// informers on the server's loopback connection. The server starts the
// informers once it serves; plugins wait for their caches to sync.
type Deps struct {
	Client kubernetes.Interface
	// Config is the loopback connection Client uses, for clients of
	// groups client-go does not know (settings.k8s.io PodPresets).
	Config    *rest.Config
	Informers informers.SharedInformerFactory
	Log       *slog.Logger
	// Stop, closed when the server stops, ends plugins' own workers.
	Stop <-chan struct{}
}
