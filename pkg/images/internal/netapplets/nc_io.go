package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// serve is the listen mode: accept one connection (every connection with
// -lk -e) from the given peer, if any, and shovel data or run -e's PROG.
func (n *nc) serve(remote *net.UDPAddr) int {
	local, err := n.localAddress()
	if err != nil {
		fmt.Fprintf(n.stderr, "nc: %v\n", err)
		return 1
	}
	if n.udp {
		return n.serveUDP(local, remote)
	}
	lc := net.ListenConfig{Control: n.control}
	ln, err := lc.Listen(context.Background(), "tcp", local)
	if err != nil {
		fmt.Fprintf(n.stderr, "nc: bind: %s\n", errnoText(err))
		return 1
	}
	defer ln.Close()
	if n.verbose > 0 {
		fmt.Fprintf(n.stderr, "listening on %s ...\n", ln.Addr())
	}
	tl := ln.(*net.TCPListener)
	for {
		if n.wait > 0 {
			tl.SetDeadline(time.Now().Add(n.wait))
		}
		conn, err := tl.AcceptTCP()
		if err != nil {
			if isTimeout(err) {
				fmt.Fprintf(n.stderr, "nc: timeout\n")
			} else {
				fmt.Fprintf(n.stderr, "nc: accept: %s\n", errnoText(err))
			}
			return 1
		}
		peer := conn.RemoteAddr().(*net.TCPAddr)
		if remote != nil && (!peer.IP.Equal(remote.IP) || (remote.Port != 0 && remote.Port != peer.Port)) {
			if n.verbose > 0 {
				fmt.Fprintf(n.stderr, "nc: connect from wrong ip/port %s ignored\n", peer)
			}
			conn.Close()
			continue
		}
		if n.verbose > 0 {
			fmt.Fprintf(n.stderr, "connect to %s from %s (%s)\n", conn.LocalAddr(), n.peerName(peer.IP), peer)
		}
		if n.persistent && n.prog != nil {
			n.spawn(conn)
			continue
		}
		ln.Close()
		if n.prog != nil {
			return n.exec(conn)
		}
		return n.shovel(conn)
	}
}

// peerName is the peer's name for -v: its address with -n, else the
// first name a reverse lookup gives.
func (n *nc) peerName(ip net.IP) string {
	if !n.numeric {
		if names, err := net.DefaultResolver.LookupAddr(context.Background(), ip.String()); err == nil && len(names) > 0 {
			return names[0]
		}
	}
	return ip.String()
}

// serveUDP waits (under -w) for the first datagram, from remote if given,
// and then talks to its sender only.
func (n *nc) serveUDP(local string, remote *net.UDPAddr) int {
	lc := net.ListenConfig{Control: n.control}
	pc, err := lc.ListenPacket(context.Background(), "udp", local)
	if err != nil {
		fmt.Fprintf(n.stderr, "nc: bind: %s\n", errnoText(err))
		return 1
	}
	uc := pc.(*net.UDPConn)
	defer uc.Close()
	if n.verbose > 0 {
		fmt.Fprintf(n.stderr, "listening on %s ...\n", uc.LocalAddr())
	}
	if n.wait > 0 {
		uc.SetReadDeadline(time.Now().Add(n.wait))
	}
	buf := make([]byte, 65536)
	var first []byte
	var peer *net.UDPAddr
	for {
		k, from, err := uc.ReadFromUDP(buf)
		if err != nil {
			if isTimeout(err) {
				fmt.Fprintf(n.stderr, "nc: timeout\n")
			} else {
				fmt.Fprintf(n.stderr, "nc: recvfrom: %s\n", errnoText(err))
			}
			return 1
		}
		if remote == nil || (from.IP.Equal(remote.IP) && (remote.Port == 0 || remote.Port == from.Port)) {
			first, peer = append([]byte(nil), buf[:k]...), from
			break
		}
	}
	uc.SetReadDeadline(time.Time{})
	if n.verbose > 0 {
		fmt.Fprintf(n.stderr, "connect to %s from %s (%s)\n", uc.LocalAddr(), n.peerName(peer.IP), peer)
	}
	pconn := &udpPeerConn{UDPConn: uc, peer: peer, pending: first}
	if n.prog != nil {
		return n.exec(pconn)
	}
	return n.shovel(pconn)
}

// udpPeerConn is a listening UDP socket narrowed to one peer, starting with
// the datagram that made it known.
type udpPeerConn struct {
	*net.UDPConn
	peer    *net.UDPAddr
	pending []byte
}

func (c *udpPeerConn) Read(p []byte) (int, error) {
	if c.pending != nil {
		k := copy(p, c.pending)
		c.pending = nil
		return k, nil
	}
	for {
		k, from, err := c.UDPConn.ReadFromUDP(p)
		if err != nil || (from.IP.Equal(c.peer.IP) && from.Port == c.peer.Port) {
			return k, err
		}
	}
}

func (c *udpPeerConn) Write(p []byte) (int, error) { return c.UDPConn.WriteToUDP(p, c.peer) }

// fileConn is a connection whose socket can be handed to a program.
type fileConn interface{ File() (*os.File, error) }

// socketFile returns a blocking duplicate of conn's socket.
func socketFile(conn net.Conn) (*os.File, error) {
	if pc, ok := conn.(*udpPeerConn); ok {
		// The program gets the socket connected to the peer, as busybox's.
		raw, err := pc.SyscallConn()
		if err != nil {
			return nil, err
		}
		var cerr error
		if err := raw.Control(func(fd uintptr) {
			var sa syscall.Sockaddr
			if own, err := syscall.Getsockname(int(fd)); err != nil {
				cerr = err
				return
			} else if _, v4 := own.(*syscall.SockaddrInet4); v4 {
				sa4 := &syscall.SockaddrInet4{Port: pc.peer.Port}
				copy(sa4.Addr[:], pc.peer.IP.To4())
				sa = sa4
			} else {
				sa6 := &syscall.SockaddrInet6{Port: pc.peer.Port}
				copy(sa6.Addr[:], pc.peer.IP.To16())
				sa = sa6
			}
			cerr = syscall.Connect(int(fd), sa)
		}); err != nil {
			return nil, err
		}
		if cerr != nil {
			return nil, cerr
		}
		return pc.File()
	}
	fc, ok := conn.(fileConn)
	if !ok {
		return nil, fmt.Errorf("connection has no file")
	}
	return fc.File()
}

// exec replaces nc with -e's PROG, its stdin and stdout the socket (stderr
// stays nc's), as busybox's doexec.
func (n *nc) exec(conn net.Conn) int {
	path, err := exec.LookPath(n.prog[0])
	if err != nil {
		return n.cantExec(err)
	}
	f, err := socketFile(conn)
	if err != nil {
		fmt.Fprintf(n.stderr, "nc: %v\n", err)
		return 1
	}
	for _, fd := range []int{0, 1} {
		if err := syscall.Dup3(int(f.Fd()), fd, 0); err != nil {
			fmt.Fprintf(n.stderr, "nc: dup2: %s\n", errnoText(err))
			return 1
		}
	}
	err = syscall.Exec(path, n.prog, os.Environ())
	return n.cantExec(err)
}

func (n *nc) cantExec(err error) int {
	fmt.Fprintf(n.stderr, "nc: can't execute '%s': %s\n", n.prog[0], errnoText(err))
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return 127
	}
	return 126
}

// spawn runs -e's PROG for one connection of a persistent (-lk) server
// and returns at once; the child is reaped when it exits.
func (n *nc) spawn(conn *net.TCPConn) {
	defer conn.Close()
	f, err := conn.File()
	if err != nil {
		fmt.Fprintf(n.stderr, "nc: %v\n", err)
		return
	}
	defer f.Close()
	path, err := exec.LookPath(n.prog[0])
	if err != nil {
		n.cantExec(err)
		return
	}
	cmd := &exec.Cmd{Path: path, Args: n.prog, Stdin: f, Stdout: f, Stderr: os.Stderr}
	if err := cmd.Start(); err != nil {
		n.cantExec(err)
		return
	}
	go cmd.Wait()
}

// shovel copies stdin to the network and the network to stdout until both
// are closed, as busybox's readwrite: stdin's end half-closes the
// connection; with -w, the second time nothing at all happened for that
// long ends nc (with status 0).
func (n *nc) shovel(conn net.Conn) int {
	const (
		netClosed = iota
		stdinClosed
		writeFailed
		activity
	)
	events := make(chan int, 8)
	signal := func(ev int) {
		if ev == activity {
			select {
			case events <- ev:
			default:
			}
			return
		}
		events <- ev
	}
	var dumpMu sync.Mutex
	var sent, received atomic.Int64
	go func() {
		buf := make([]byte, 8192)
		for {
			k, err := conn.Read(buf)
			if k > 0 {
				n.stdout.Write(buf[:k])
				if n.hexdump != nil {
					dumpMu.Lock()
					hexdump(n.hexdump, '<', received.Load(), buf[:k])
					dumpMu.Unlock()
				}
				received.Add(int64(k))
				signal(activity)
			}
			if err != nil {
				signal(netClosed)
				return
			}
		}
	}()
	go func() {
		if n.interval > 0 {
			time.Sleep(n.interval) // busybox pauses before sending anything, too
		}
		buf := make([]byte, 8192)
		for {
			k, err := n.stdin.Read(buf)
			for data := buf[:k]; len(data) > 0; {
				chunk := data
				if n.interval > 0 {
					if i := bytes.IndexByte(data, '\n'); i >= 0 {
						chunk = data[:i+1]
					}
				}
				if _, werr := conn.Write(chunk); werr != nil {
					signal(writeFailed)
					return
				}
				if n.hexdump != nil {
					dumpMu.Lock()
					hexdump(n.hexdump, '>', sent.Load(), chunk)
					dumpMu.Unlock()
				}
				sent.Add(int64(len(chunk)))
				data = data[len(chunk):]
				signal(activity)
				if n.interval > 0 {
					time.Sleep(n.interval)
				}
			}
			if err != nil {
				if cw, ok := conn.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
				signal(stdinClosed)
				return
			}
		}
	}()
	defer func() { n.sent, n.received = sent.Load(), received.Load() }()
	open, retries := 2, 2
	for open > 0 {
		var timeout <-chan time.Time
		if n.wait > 0 {
			timeout = time.After(n.wait)
		}
		select {
		case ev := <-events:
			switch ev {
			case netClosed, stdinClosed:
				open--
			case writeFailed:
				if n.verbose > 0 {
					fmt.Fprintf(n.stderr, "nc: too many output retries\n")
				}
				return 1
			}
		case <-timeout:
			if retries--; retries == 0 {
				if n.verbose > 1 {
					fmt.Fprintf(n.stderr, "net timeout\n")
				}
				return 0
			}
		}
	}
	return 0
}

// hexdump writes data as busybox nc -o does: per 16 bytes, the direction,
// the offset in that direction, the bytes in hex and as text.
func hexdump(w io.Writer, dir byte, offset int64, data []byte) {
	for len(data) > 0 {
		k := min(len(data), 16)
		line := make([]byte, 0, 80)
		line = append(line, dir)
		line = fmt.Appendf(line, " %08x ", offset)
		hex := []byte(fmt.Sprintf("% x", data[:k]))
		hex = append(hex, ' ')
		line = append(line, hex...)
		for len(line) < 59 {
			line = append(line, ' ')
		}
		line = append(line, '#', ' ')
		for _, b := range data[:k] {
			if b > 31 && b < 127 {
				line = append(line, b)
			} else {
				line = append(line, '.')
			}
		}
		line = append(line, '\n')
		w.Write(line)
		offset += int64(k)
		data = data[k:]
	}
}
