package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/flotilla-io/flotilla/pkg/controller/namespace"
	"github.com/flotilla-io/flotilla/pkg/controller/serviceaccount"
)

// runControllers runs the built-in controllers until ctx ends.
func runControllers(ctx context.Context, cfg *rest.Config, caPEM []byte, log *slog.Logger) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	mc, err := metadata.NewForConfig(cfg)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(cs, 10*time.Hour)
	nsc := namespace.New(cs, mc, factory, log)
	sac := serviceaccount.New(cs, factory, caPEM, log)
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sac.Run(ctx, 2)
	}()
	nsc.Run(ctx, 2)
	wg.Wait()
	return nil
}
