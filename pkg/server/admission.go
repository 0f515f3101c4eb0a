package server

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/admission"
)

// newAdmission builds the admission chain on the loopback client. Its
// informers start with Run (runAdmissionInformers); until their caches
// sync, plugins read from the API directly.
func (s *Server) newAdmission() (*admission.Chain, error) {
	cs, err := kubernetes.NewForConfig(s.LoopbackConfig())
	if err != nil {
		return nil, fmt.Errorf("admission client: %w", err)
	}
	s.admissionInformers = informers.NewSharedInformerFactoryWithOptions(cs, 10*time.Hour, informers.WithTransform(dropManagedFields))
	s.admissionStop = make(chan struct{})
	plugins, err := admission.Without(s.cfg.DisableAdmissionPlugins)
	if err != nil {
		return nil, err
	}
	return admission.NewFrom(admission.Deps{Client: cs, Config: s.LoopbackConfig(), Informers: s.admissionInformers, Log: s.log.With("component", "admission"), Stop: s.admissionStop}, plugins)
}

// runAdmissionInformers feeds the admission plugins' caches until ctx
// ends, then stops the plugins' workers.
func (s *Server) runAdmissionInformers(ctx context.Context) {
	defer close(s.admissionStop)
	s.admissionInformers.Start(ctx.Done())
	<-ctx.Done()
	s.admissionInformers.Shutdown()
}
