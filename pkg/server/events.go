package server

import (
	"time"

	"github.com/flotilla-io/flotilla/pkg/registry"
)

// DefaultEventTTL is upstream's --event-ttl.
const DefaultEventTTL = time.Hour

// expireEvents has etcd delete every Event EventTTL after its last write
// (core and events.k8s.io Events share one store).
func (s *Server) expireEvents(resources []*registry.Resource) {
	ttl := s.cfg.EventTTL
	if ttl <= 0 {
		ttl = DefaultEventTTL
	}
	for _, r := range resources {
		if r.Group == "" && r.Plural == "events" {
			r.Store.SetTTL(ttl)
		}
	}
}
