package dns

import (
	"context"
	"net"
	"strings"

	mdns "github.com/miekg/dns"
)

// maxCNAMEChain bounds the CNAMEs followed inside the zone (an
// ExternalName Service may name another Service).
const maxCNAMEChain = 8

// ServeDNS answers one query; the library has checked its header and
// parsed it (see acceptQuery).
func (s *Server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	ctx := context.Background()
	if p := s.ctx.Load(); p != nil {
		ctx = *p
	}
	if resp := s.respond(ctx, req, tcp); resp != nil {
		if err := w.WriteMsg(resp); err != nil {
			s.log.Debug("dns: write reply", "err", err)
		}
	}
}

// respond builds the reply to req, sized for its transport.
func (s *Server) respond(ctx context.Context, req *mdns.Msg, tcp bool) *mdns.Msg {
	m := new(mdns.Msg)
	if len(req.Question) != 1 || req.Opcode != mdns.OpcodeQuery || req.Response {
		m.SetRcodeFormatError(req)
		return m
	}
	m.SetReply(req)
	opt, bad := requestOPT(req)
	if bad {
		// RFC 6891 6.1.1: more than one OPT record is FORMERR.
		m.Rcode = mdns.RcodeFormatError
		return m
	}
	size := mdns.MinMsgSize
	if opt != nil {
		size = max(size, int(opt.UDPSize()))
		if opt.Version() != 0 {
			// RFC 6891 6.1.3: an unknown EDNS version is BADVERS,
			// answered with an OPT of the version supported.
			m.SetEdns0(advertisedUDPSize, false)
			m.Rcode = mdns.RcodeBadVers
			return m
		}
	}
	if tcp {
		size = mdns.MaxMsgSize
	}

	q := req.Question[0]
	lname := strings.ToLower(q.Name)
	switch {
	case q.Qtype == mdns.TypeOPT:
		// A pseudo-type is no question (RFC 6891 6.1.1).
		m.Rcode = mdns.RcodeFormatError
	case s.inZone(lname):
		s.answerZone(ctx, m, q, lname)
	case isReverse(lname) && s.answerReverse(m, q, lname):
	default:
		if fw, rcode := s.forward(ctx, req); fw != nil {
			m = fw
			m.Question = req.Question // as asked, whatever case the upstream echoed
		} else {
			m.Rcode = rcode
			m.RecursionAvailable = s.fwd.Load().enabled()
		}
	}
	m.Id = req.Id
	if opt != nil {
		dropOPT(m)
		m.SetEdns0(advertisedUDPSize, opt.Do())
	}
	m.Compress = true
	m.Truncate(size)
	return m
}

// requestOPT returns the request's OPT record; bad when it has several.
func requestOPT(req *mdns.Msg) (opt *mdns.OPT, bad bool) {
	for _, rr := range req.Extra {
		if o, ok := rr.(*mdns.OPT); ok {
			if opt != nil {
				return nil, true
			}
			opt = o
		}
	}
	return opt, false
}

func dropOPT(m *mdns.Msg) {
	out := m.Extra[:0]
	for _, rr := range m.Extra {
		if rr.Header().Rrtype != mdns.TypeOPT {
			out = append(out, rr)
		}
	}
	m.Extra = out
}

// answerZone fills m with the answer for a name of the cluster zone.
func (s *Server) answerZone(ctx context.Context, m *mdns.Msg, q mdns.Question, lname string) {
	m.Authoritative = true
	m.RecursionAvailable = s.fwd.Load().enabled()
	if !s.synced.Load() {
		m.Rcode = mdns.RcodeServerFailure
		return
	}
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		m.Rcode = mdns.RcodeRefused
		return
	}
	if q.Qtype == mdns.TypeAXFR || q.Qtype == mdns.TypeIXFR {
		// No zone transfers of the cluster's names.
		m.Rcode = mdns.RcodeRefused
		return
	}
	owner := q.Name
	for range maxCNAMEChain {
		n := s.zoneNode(owner, parseZoneName(lname, s.zone))
		ans, extra, cname := pick(n, q.Qtype)
		m.Answer = append(m.Answer, ans...)
		m.Extra = append(m.Extra, extra...)
		if !n.exists {
			m.Rcode = mdns.RcodeNameError
		}
		if len(ans) == 0 {
			m.Ns = []mdns.RR{s.soa()}
		}
		if cname == "" {
			return
		}
		if !s.inZone(cname) {
			s.chase(ctx, m, cname, q.Qtype)
			return
		}
		owner, lname = cname, cname
	}
}

// pick cuts the answer to qtype from a node: the records of that type
// (all for ANY), else its CNAME, whose target then names the next node
// to look at.
func pick(n node, qtype uint16) (ans, extra []mdns.RR, cname string) {
	for _, rr := range n.rrs {
		if qtype == mdns.TypeANY || rr.Header().Rrtype == qtype {
			ans = append(ans, rr)
		}
	}
	if len(ans) > 0 {
		if qtype == mdns.TypeSRV || qtype == mdns.TypeNS || qtype == mdns.TypeANY {
			extra = n.extra
		}
		return ans, extra, ""
	}
	for _, rr := range n.rrs {
		if c, ok := rr.(*mdns.CNAME); ok {
			return []mdns.RR{c}, nil, c.Target
		}
	}
	return nil, nil, ""
}

// chase resolves the target of an in-zone CNAME that points outside the
// cluster through the upstreams and appends their answer, as CoreDNS
// does for ExternalName Services. Without an answer the CNAME alone goes
// back and the client resolves the target itself.
func (s *Server) chase(ctx context.Context, m *mdns.Msg, target string, qtype uint16) {
	q := new(mdns.Msg)
	q.SetQuestion(target, qtype)
	q.SetEdns0(advertisedUDPSize, false)
	r, _ := s.forward(ctx, q)
	if r == nil || (r.Rcode != mdns.RcodeSuccess && r.Rcode != mdns.RcodeNameError) {
		return
	}
	m.Answer = append(m.Answer, r.Answer...)
	// RFC 6604: the rcode is that of the last name of the chain.
	m.Rcode = r.Rcode
	m.Ns = nil
	if len(r.Answer) == 0 || r.Rcode == mdns.RcodeNameError {
		m.Ns = r.Ns
	}
}

// answerReverse answers a reverse name when it is the cluster's: a known
// cluster IP or endpoint anywhere, or any name inside a cluster range.
// It returns false for other reverse names, which are forwarded.
func (s *Server) answerReverse(m *mdns.Msg, q mdns.Question, lname string) bool {
	if !s.synced.Load() {
		return false
	}
	zone := ""
	for _, z := range s.reverse {
		if mdns.IsSubDomain(z, lname) && len(z) > len(zone) {
			zone = z
		}
	}
	var n node
	if ip, ok := reverseAddr(lname); ok {
		n = s.reverseNode(q.Name, ip)
	} else if zone != "" {
		// A partial name inside a cluster range: there are addresses
		// below it, so it exists without records of its own.
		n.exists = true
	}
	if !n.exists && zone == "" {
		return false
	}
	if zone == "" {
		if strings.HasSuffix(lname, arpa6) {
			zone = arpa6
		} else {
			zone = arpa4
		}
	}
	m.Authoritative = true
	m.RecursionAvailable = s.fwd.Load().enabled()
	ans, _, _ := pick(n, q.Qtype)
	if lname == zone && (q.Qtype == mdns.TypeSOA || q.Qtype == mdns.TypeANY) {
		ans = append(ans, s.soaFor(q.Name))
	}
	m.Answer = ans
	if !n.exists && lname != zone {
		m.Rcode = mdns.RcodeNameError
	}
	if len(ans) == 0 {
		m.Ns = []mdns.RR{s.soaFor(zone)}
	}
	return true
}
