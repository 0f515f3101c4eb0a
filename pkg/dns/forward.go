package dns

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// forwarder relays queries for names outside the cluster to the
// upstream resolvers.
type forwarder struct {
	upstreams []string // host:port
	timeout   time.Duration
	next      atomic.Uint32 // rotates the first upstream tried
	slots     chan struct{} // bounds the exchanges in flight
	udp, tcp  *mdns.Client
}

func newForwarder(upstreams []string, timeout time.Duration, maxInFlight int) *forwarder {
	return &forwarder{
		upstreams: upstreams,
		timeout:   timeout,
		slots:     make(chan struct{}, maxInFlight),
		udp:       &mdns.Client{Net: "udp", Timeout: timeout, UDPSize: mdns.MaxMsgSize},
		tcp:       &mdns.Client{Net: "tcp", Timeout: timeout},
	}
}

func (f *forwarder) enabled() bool { return f != nil && len(f.upstreams) > 0 }

// forward relays req and returns the upstream's reply, or nil and the
// rcode to answer with: REFUSED without upstreams (or when too many
// forwards are in flight; the client then asks its next server at once),
// SERVFAIL when no upstream answered.
func (s *Server) forward(ctx context.Context, req *mdns.Msg) (*mdns.Msg, int) {
	f := s.fwd.Load()
	if !f.enabled() {
		return nil, mdns.RcodeRefused
	}
	select {
	case f.slots <- struct{}{}:
		defer func() { <-f.slots }()
	default:
		return nil, mdns.RcodeRefused
	}
	r, err := f.exchange(ctx, req)
	if err != nil {
		s.log.Debug("dns: forward failed", "name", req.Question[0].Name, "err", err)
		return nil, mdns.RcodeServerFailure
	}
	return r, mdns.RcodeSuccess
}

// exchange asks the upstreams in turn, starting from a different one each
// time to spread the load, until one gives a usable answer. A SERVFAIL or
// REFUSED is passed on only when no other upstream does better.
func (f *forwarder) exchange(ctx context.Context, req *mdns.Msg) (*mdns.Msg, error) {
	q := req.Copy()
	// A fresh ID: the client's could be guessed by whoever sees its
	// query, and the upstream exchange is ours.
	q.Id = mdns.Id()
	start := int(f.next.Add(1))
	var fallback *mdns.Msg
	var errs []error
	for i := range f.upstreams {
		up := f.upstreams[(start+i)%len(f.upstreams)]
		r, err := f.one(ctx, q, up)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", up, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if r.Rcode == mdns.RcodeServerFailure || r.Rcode == mdns.RcodeRefused {
			fallback = r
			continue
		}
		return r, nil
	}
	if fallback != nil {
		return fallback, nil
	}
	return nil, errors.Join(errs...)
}

// one exchanges q with one upstream over UDP, and again over TCP when the
// UDP reply was truncated.
func (f *forwarder) one(ctx context.Context, q *mdns.Msg, upstream string) (*mdns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	r, _, err := f.udp.ExchangeContext(ctx, q, upstream)
	if err == nil && r.Truncated {
		r, _, err = f.tcp.ExchangeContext(ctx, q, upstream)
	}
	if err != nil {
		return nil, err
	}
	if len(r.Question) != 1 || r.Question[0].Qtype != q.Question[0].Qtype || !strings.EqualFold(r.Question[0].Name, q.Question[0].Name) {
		return nil, errors.New("reply to another question")
	}
	return r, nil
}
