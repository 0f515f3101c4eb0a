package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/apiserver"
	"github.com/flotilla-io/flotilla/pkg/serviceaccount/authenticator"
)

// tokenAuth authenticates service account tokens against informer caches
// of the objects they are bound to (its own factory, so every server,
// not only the leader, has them).
type tokenAuth struct {
	auth      *authenticator.Authenticator
	informers informers.SharedInformerFactory
}

// newTokenAuth builds the authenticator on the loopback client; run
// starts its caches.
func (s *Server) newTokenAuth() (*tokenAuth, error) {
	cs, err := kubernetes.NewForConfig(s.LoopbackConfig())
	if err != nil {
		return nil, err
	}
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 10*time.Hour, informers.WithTransform(dropManagedFields))
	return &tokenAuth{
		auth:      &authenticator.Authenticator{Verifier: s.saSigner, Objects: authenticator.NewCachedObjects(cs, factory)},
		informers: factory,
	}, nil
}

// run keeps the caches until ctx ends. Until they sync, lookups fall
// through to the API.
func (t *tokenAuth) run(ctx context.Context) {
	t.informers.Start(ctx.Done())
	<-ctx.Done()
	t.informers.Shutdown()
}

// authenticateBearer answers for a request carrying a bearer token.
func (t *tokenAuth) authenticateBearer(r *http.Request, bearer string) (apiserver.User, bool) {
	u, err := t.auth.AuthenticateToken(r.Context(), strings.TrimSpace(bearer))
	if err != nil {
		return apiserver.User{}, false
	}
	return apiserver.User{Name: u.GetName(), UID: u.GetUID(), Groups: append(u.GetGroups(), "system:authenticated"), Extra: u.GetExtra()}, true
}
