// Package nettest builds throw-away network namespaces wired like a node
// with pods, for the proxy's tests and benchmark. Everything it creates
// lives inside namespaces it created (interfaces are made with `ip -n`, so
// not even a veth end passes through the caller's namespace); the host's
// own rules and links are never touched.
package nettest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

var seq atomic.Int64

// NS is a named network namespace (/run/netns/NAME).
type NS struct {
	Name string
	Path string
}

// NewNS creates a namespace with a unique name and its loopback up.
func NewNS(prefix string) (*NS, error) {
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, errors.New("nettest needs the ip command (iproute2)")
	}
	name := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &NS{Name: name, Path: filepath.Join("/run/netns", name)}
	if err := n.IP("link", "set", "lo", "up"); err != nil {
		_ = n.Delete()
		return nil, err
	}
	return n, nil
}

// Delete removes the namespace (and with it its interfaces and rules).
func (n *NS) Delete() error {
	if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", n.Name, err, out)
	}
	return nil
}

// IP runs `ip -n NAME args...`.
func (n *NS) IP(args ...string) error {
	out, err := exec.Command("ip", append([]string{"-n", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip -n %s %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
	}
	return nil
}

// Exec runs a command inside the namespace (`ip netns exec`).
func (n *NS) Exec(name string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %v: %s", name, strings.Join(args, " "), n.Name, err, out)
	}
	return string(out), nil
}

// Do runs fn on an OS thread switched into the namespace; sockets fn
// creates belong to the namespace for good.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open(n.Path)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		err = fn()
		// A thread that cannot go back stays locked and dies with this
		// goroutine, so no other goroutine runs in the wrong namespace.
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// Sysctl writes /proc/sys/KEY (dots as slashes) inside the namespace.
func (n *NS) Sysctl(key, value string) error {
	return n.Do(func() error {
		return os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(value), 0o644)
	})
}

// Listen opens a listener inside the namespace.
func (n *NS) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := n.Do(func() (err error) { ln, err = net.Listen(network, addr); return err })
	return ln, err
}

// ListenPacket opens a packet socket inside the namespace.
func (n *NS) ListenPacket(network, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := n.Do(func() (err error) { pc, err = net.ListenPacket(network, addr); return err })
	return pc, err
}

// Dial connects from inside the namespace.
func (n *NS) Dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) {
		d := net.Dialer{Timeout: timeout}
		c, err = d.Dial(network, addr)
		return err
	})
	return c, err
}

// Veth joins two namespaces with a veth pair (aName in a, bName in b),
// both ends up, with the given addresses (CIDR notation; "" for none).
func Veth(a *NS, aName, aAddr string, b *NS, bName, bAddr string) error {
	if err := a.IP("link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.Name); err != nil {
		return err
	}
	for _, end := range []struct {
		ns         *NS
		name, addr string
	}{{a, aName, aAddr}, {b, bName, bAddr}} {
		if end.addr != "" {
			if err := end.ns.IP("addr", "add", end.addr, "dev", end.name); err != nil {
				return err
			}
		}
		if err := end.ns.IP("link", "set", end.name, "up"); err != nil {
			return err
		}
	}
	return nil
}

// EchoServer answers every TCP connection with "NAME REMOTE-ADDR\n" and
// closes it: a backend that says who it is and whom it saw.
func EchoServer(ctx context.Context, ns *NS, addr, name string) (stop func(), err error) {
	ln, err := ns.Listen("tcp4", addr)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = fmt.Fprintf(c, "%s %s\n", name, c.RemoteAddr())
			_ = c.Close()
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		_ = ln.Close()
	}()
	return func() { cancel(); wg.Wait() }, nil
}

// Ask connects from ns to addr and returns the echo server's answer:
// its name and the client address it saw.
func Ask(ns *NS, addr string, timeout time.Duration) (name, seen string, err error) {
	c, err := ns.Dial("tcp4", addr, timeout)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", "", fmt.Errorf("read answer from %s: %w", addr, err)
	}
	f := strings.Fields(line)
	if len(f) != 2 {
		return "", "", fmt.Errorf("answer from %s: %q", addr, line)
	}
	return f[0], f[1], nil
}
