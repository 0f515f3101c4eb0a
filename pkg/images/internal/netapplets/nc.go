package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ncUsage is busybox 1.36's text for `nc --help` (NC_SERVER, NC_EXTRA and
// NC_110_COMPAT, as in upstream's image).
const ncUsage = `Usage: nc [OPTIONS] HOST PORT  - connect
nc [OPTIONS] -l -p PORT [HOST] [PORT]  - listen

	-e PROG	Run PROG after connect (must be last)
	-l	Listen mode, for inbound connects
	-lk	With -e, provides persistent server
	-p PORT	Local port
	-s ADDR	Local address
	-w SEC	Timeout for connects and final net reads
	-i SEC	Delay interval for lines sent
	-n	Don't do DNS resolution
	-u	UDP mode
	-b	Allow broadcasts
	-v	Verbose
	-o FILE	Hex dump traffic
	-z	Zero-I/O mode (scanning)
`

// ncSpec is busybox nc's "np:s:ubvw:+lki:o:z" (-v and -l count).
var ncSpec = optSpec{short: map[byte]argKind{
	'n': noArg, 'p': requiredArg, 's': requiredArg, 'u': noArg, 'b': noArg, 'v': noArg,
	'w': requiredArg, 'l': noArg, 'k': noArg, 'i': requiredArg, 'o': requiredArg, 'z': noArg,
}}

// nc is one run of the applet.
type nc struct {
	env
	numeric, udp, broadcast, zero bool
	verbose, listen               int
	persistent                    bool
	wait, interval                time.Duration
	localPort                     int
	localAddr                     string
	hexdump                       io.Writer // -o FILE
	prog                          []string  // -e PROG [ARGS]
	sent, received                int64
}

func ncMain(e env) int {
	n := &nc{env: e}
	args, prog := splitExec(e.args)
	n.prog = prog
	opts, operands, err := parseOpts(args, ncSpec)
	if err == nil && len(operands) > 2 {
		err = errors.New("too many arguments")
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "nc: %v\n", err)
		fmt.Fprint(e.stderr, ncUsage)
		return 1
	}
	for _, o := range opts {
		switch o.key {
		case "n":
			n.numeric = true
		case "u":
			n.udp = true
		case "b":
			n.broadcast = true
		case "z":
			n.zero = true
		case "v":
			n.verbose++
		case "l":
			n.listen++
		case "k":
			n.persistent = true
		case "s":
			n.localAddr = o.val
		case "p", "w", "i":
			v, err := strconv.ParseUint(o.val, 10, 16)
			if o.key == "p" {
				p, perr := lookupPort(o.val, n.udp)
				v, err = uint64(p), perr
			}
			if err != nil {
				fmt.Fprintf(e.stderr, "nc: invalid number '%s'\n", o.val)
				return 1
			}
			switch o.key {
			case "p":
				n.localPort = int(v)
			case "w":
				n.wait = time.Duration(v) * time.Second
			case "i":
				n.interval = time.Duration(v) * time.Second
			}
		case "o":
			f, err := os.OpenFile(o.val, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
			if err != nil {
				fmt.Fprintf(e.stderr, "nc: can't open '%s': %s\n", o.val, errnoText(err))
				return 1
			}
			defer f.Close()
			n.hexdump = f
		}
	}
	if n.listen > 1 || n.persistent {
		n.listen, n.persistent = 1, true
	}
	// -e replaces stdin; a hex dump of an exec'ed program is meaningless.
	if n.prog != nil {
		n.hexdump = nil
	}
	var remote *net.UDPAddr // host and port as given, resolved (port may be 0)
	var remoteName string
	if len(operands) > 0 {
		remoteName = operands[0]
		port := 0
		if len(operands) > 1 {
			if port, err = lookupPort(operands[1], n.udp); err != nil {
				fmt.Fprintf(e.stderr, "nc: %v\n", err)
				return 1
			}
		}
		ip, err := n.resolve(remoteName)
		if err != nil {
			fmt.Fprintf(e.stderr, "nc: %v\n", err)
			return 1
		}
		remote = &net.UDPAddr{IP: ip, Port: port}
	}
	status := 0
	if n.listen > 0 {
		status = n.serve(remote)
	} else {
		if remote == nil {
			fmt.Fprint(e.stderr, ncUsage)
			return 1
		}
		status = n.connect(remoteName, remote)
	}
	if n.verbose > 1 {
		fmt.Fprintf(e.stderr, "sent %d, rcvd %d\n", n.sent, n.received)
	}
	return status
}

// splitExec cuts "-e PROG [ARGS...]" (or "-<flags>e PROG ...") off the
// arguments: everything after -e belongs to PROG, as in busybox.
func splitExec(args []string) (rest, prog []string) {
	for i, a := range args {
		if a == "-e" {
			return args[:i], nonNil(args[i+1:])
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && strings.HasSuffix(a, "e") &&
			strings.Trim(a[1:len(a)-1], "nuvlkz") == "" {
			rest = append(append([]string{}, args[:i]...), a[:len(a)-1])
			return rest, nonNil(args[i+1:])
		}
	}
	return args, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// lookupPort parses a port number or service name.
func lookupPort(s string, udp bool) (int, error) {
	if p, err := strconv.ParseUint(s, 10, 16); err == nil {
		return int(p), nil
	}
	network := "tcp"
	if udp {
		network = "udp"
	}
	p, err := net.DefaultResolver.LookupPort(context.Background(), network, s)
	if err != nil {
		return 0, fmt.Errorf("bad port '%s'", s)
	}
	return p, nil
}

// resolve returns host's first address; with -n host must be numeric.
func (n *nc) resolve(host string) (net.IP, error) {
	h := strings.Trim(host, "[]")
	if ip := net.ParseIP(h); ip != nil {
		return ip, nil
	}
	if n.numeric {
		return nil, fmt.Errorf("bad address '%s'", host)
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(context.Background(), h)
	if err != nil || len(addrs) == 0 {
		return nil, fmt.Errorf("bad address '%s'", host)
	}
	for _, a := range addrs {
		if a.IP.To4() != nil {
			return a.IP, nil
		}
	}
	return addrs[0].IP, nil
}

func (n *nc) network() string {
	if n.udp {
		return "udp"
	}
	return "tcp"
}

// localAddress is what -s and -p ask to bind to ("" and 0 for any).
func (n *nc) localAddress() (string, error) {
	host := ""
	if n.localAddr != "" {
		ip, err := n.resolve(n.localAddr)
		if err != nil {
			return "", err
		}
		host = ip.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(n.localPort)), nil
}

// control sets SO_BROADCAST for -b.
func (n *nc) control(_, _ string, c syscall.RawConn) error {
	if !n.broadcast {
		return nil
	}
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// connect is the outbound mode: connect (under -w), then -z's probe, -e's
// exec, or shovel data both ways.
func (n *nc) connect(name string, remote *net.UDPAddr) int {
	dotted := remote.AddrPort().String()
	if remote.IP.To4() != nil {
		dotted = net.JoinHostPort(remote.IP.To4().String(), strconv.Itoa(remote.Port))
	}
	d := net.Dialer{Timeout: n.wait, Control: n.control}
	if n.localAddr != "" || n.localPort != 0 {
		local, err := n.localAddress()
		if err != nil {
			fmt.Fprintf(n.stderr, "nc: %v\n", err)
			return 1
		}
		if n.udp {
			d.LocalAddr, err = net.ResolveUDPAddr("udp", local)
		} else {
			d.LocalAddr, err = net.ResolveTCPAddr("tcp", local)
		}
		if err != nil {
			fmt.Fprintf(n.stderr, "nc: %v\n", err)
			return 1
		}
	}
	conn, err := d.Dial(n.network(), net.JoinHostPort(remote.IP.String(), strconv.Itoa(remote.Port)))
	if err == nil && n.zero && n.udp {
		err = n.udpProbe(conn)
	}
	if err != nil {
		if isTimeout(err) {
			err = syscall.ETIMEDOUT
		}
		fmt.Fprintf(n.stderr, "nc: %s (%s): %s\n", name, dotted, errnoText(err))
		return 1
	}
	defer conn.Close()
	if n.verbose > 0 {
		fmt.Fprintf(n.stderr, "%s (%s) open\n", name, dotted)
	}
	if n.prog != nil {
		return n.exec(conn)
	}
	if n.zero {
		return 0
	}
	return n.shovel(conn)
}

// udpProbe is -uz: two one-byte datagrams with a pause between; a closed
// port answers the first with ICMP, which fails the second.
func (n *nc) udpProbe(conn net.Conn) error {
	if _, err := conn.Write([]byte{0}); err != nil {
		return err
	}
	pause := n.wait
	if pause == 0 {
		pause = time.Second
	}
	time.Sleep(pause)
	_, err := conn.Write([]byte{0})
	return err
}
