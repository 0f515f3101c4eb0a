package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	"k8s.io/client-go/tools/cache"
)

// Sizes of the transport.
const (
	// udpReadSize is the largest UDP query read whole; a longer datagram
	// is cut and answered FORMERR. Queries are small: a name, an OPT
	// record, perhaps a cookie.
	udpReadSize = 4096
	// advertisedUDPSize is the EDNS0 buffer size the server announces:
	// the DNS Flag Day 2020 value, which avoids IP fragmentation.
	advertisedUDPSize = 1232
	tcpIdleTimeout    = 8 * time.Second
)

// Server answers DNS queries for the cluster domain from informer caches
// and forwards the rest.
type Server struct {
	cfg    Config
	log    *slog.Logger
	zone   string // lower case, fully qualified
	nsIPs  []netip.Addr
	serial uint32
	store  *store

	// reverse are the reverse zones of cfg.ReverseCIDRs.
	reverse []string

	synced atomic.Bool
	fwd    atomic.Pointer[forwarder]
	// ctx is Run's context, the parent of forwarded exchanges.
	ctx atomic.Pointer[context.Context]

	ready     chan struct{}
	running   atomic.Bool
	readyOnce sync.Once

	mu    sync.Mutex
	addrs []string
}

// New builds a server on cfg.Informers. Call it before starting the
// factory: it registers the informers and indexers it reads.
func New(cfg Config) (*Server, error) {
	if err := cfg.complete(); err != nil {
		return nil, err
	}
	st, err := newStore(cfg.Informers)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		log:    cfg.Log.With("component", "dns"),
		zone:   cfg.Domain + ".",
		nsIPs:  cfg.NameserverIPs,
		serial: uint32(time.Now().Unix()),
		store:  st,
		ready:  make(chan struct{}),
	}
	for _, p := range cfg.ReverseCIDRs {
		s.reverse = append(s.reverse, reverseZone(p))
	}
	return s, nil
}

// Ready is closed once the sockets are bound and the caches have synced.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs returns the bound addresses (host:port, UDP and TCP each), valid
// once Ready is closed.
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.addrs...)
}

// Run binds the configured addresses and serves until ctx ends, then
// closes the sockets and returns once every serving goroutine has ended.
// Before the caches have synced, names of the cluster zone are answered
// SERVFAIL (as CoreDNS does) so that no client caches a false NXDOMAIN.
func (s *Server) Run(ctx context.Context) error {
	// Run may be called again after it returns (the node agent retries
	// a server whose address could not be bound), never concurrently.
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("dns: server already running")
	}
	defer s.running.Store(false)
	s.ctx.Store(&ctx)
	pcs, lns, err := bindAll(s.cfg.Addresses)
	if err != nil {
		return err
	}
	var own []netip.AddrPort
	var addrs []string
	for _, pc := range pcs {
		ap := pc.LocalAddr().(*net.UDPAddr).AddrPort()
		own = append(own, ap)
		addrs = append(addrs, ap.String())
	}
	s.mu.Lock()
	s.addrs = addrs
	s.mu.Unlock()

	ups, err := s.cfg.upstreams(own)
	if err != nil {
		closeAll(pcs, lns)
		return fmt.Errorf("dns: %w", err)
	}
	if !s.cfg.NoForward && len(ups) == 0 {
		s.log.Warn("dns: no upstream resolvers; names outside the cluster are refused")
	}
	s.fwd.Store(newForwarder(ups, s.cfg.UpstreamTimeout, s.cfg.MaxForwards))

	servers := make([]*mdns.Server, 0, len(pcs)+len(lns))
	for _, pc := range pcs {
		servers = append(servers, &mdns.Server{PacketConn: pc, Net: "udp", Handler: s, UDPSize: udpReadSize, MsgAcceptFunc: acceptQuery, MsgInvalidFunc: s.invalid})
	}
	for _, ln := range lns {
		servers = append(servers, &mdns.Server{Listener: ln, Net: "tcp", Handler: s, MsgAcceptFunc: acceptQuery, MsgInvalidFunc: s.invalid,
			ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, IdleTimeout: func() time.Duration { return tcpIdleTimeout }})
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(servers))
	started := make(chan struct{}, len(servers))
	for _, srv := range servers {
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.ActivateAndServe(); err != nil {
				errs <- err
			}
		}()
	}
	// Shutdown only stops a server that has started, so wait for all of
	// them before anything can ask them to stop.
	var runErr error
	for range servers {
		select {
		case <-started:
		case runErr = <-errs:
		}
		if runErr != nil {
			break
		}
	}
	if runErr == nil {
		s.log.Info("dns: serving", "addresses", addrs, "domain", s.cfg.Domain, "upstreams", ups)
		if cache.WaitForCacheSync(ctx.Done(), s.store.hasSynced...) {
			s.synced.Store(true)
			s.readyOnce.Do(func() { close(s.ready) })
		}
		select {
		case <-ctx.Done():
		case runErr = <-errs:
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.ShutdownContext(sctx)
	}
	closeAll(pcs, lns) // those whose server never started
	wg.Wait()
	if runErr != nil {
		return fmt.Errorf("dns: serve: %w", runErr)
	}
	return nil
}

// bindAll binds UDP and TCP on each address; port 0 takes a port free for
// both protocols.
func bindAll(addresses []string) ([]net.PacketConn, []net.Listener, error) {
	var pcs []net.PacketConn
	var lns []net.Listener
	for _, a := range addresses {
		pc, ln, err := bindPair(a)
		if err != nil {
			closeAll(pcs, lns)
			return nil, nil, err
		}
		pcs, lns = append(pcs, pc), append(lns, ln)
	}
	return pcs, lns, nil
}

func bindPair(addr string) (net.PacketConn, net.Listener, error) {
	host, port, _ := net.SplitHostPort(addr)
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns: listen udp %s: %w", addr, err)
		}
		p := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(p)))
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		// A chosen port may be taken for TCP; try another few.
		if port != "0" || attempt == 10 {
			return nil, nil, fmt.Errorf("dns: listen tcp %s: %w", addr, err)
		}
	}
}

func closeAll(pcs []net.PacketConn, lns []net.Listener) {
	for _, pc := range pcs {
		pc.Close()
	}
	for _, ln := range lns {
		ln.Close()
	}
}

// acceptQuery is the library's first check of a message's header: only
// queries, with exactly one question and no answer or authority records
// (FORMERR otherwise); any opcode but QUERY is NOTIMP (there are no zone
// transfers, notifies or updates here); responses are dropped, as a reply
// to a reply could make the server an amplifier.
func acceptQuery(h mdns.Header) mdns.MsgAcceptAction {
	const qr = 1 << 15
	if h.Bits&qr != 0 {
		return mdns.MsgIgnore
	}
	if int(h.Bits>>11)&0xF != mdns.OpcodeQuery {
		return mdns.MsgRejectNotImplemented
	}
	if h.Qdcount != 1 || h.Ancount > 0 || h.Nscount > 0 || h.Arcount > 2 {
		return mdns.MsgReject
	}
	return mdns.MsgAccept
}

func (s *Server) invalid(m []byte, err error) {
	s.log.Debug("dns: malformed query", "bytes", len(m), "err", err)
}

// inZone tells whether lname (lower case) belongs to the cluster zone.
func (s *Server) inZone(lname string) bool {
	return lname == s.zone || strings.HasSuffix(lname, "."+s.zone)
}
