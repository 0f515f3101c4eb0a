package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNcZero(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	code, out, errs := runApplet(t, "", "nc", "-z", "127.0.0.1", port)
	if code != 0 || out != "" || errs != "" {
		t.Errorf("nc -z open = %d, %q, %q", code, out, errs)
	}
	code, _, errs = runApplet(t, "", "nc", "-zv", "-w", "2", "127.0.0.1", port)
	if want := "127.0.0.1 (127.0.0.1:" + port + ") open\n"; code != 0 || errs != want {
		t.Errorf("nc -zv = %d, %q, want %q", code, errs, want)
	}
	closed := strconv.Itoa(closedPort(t))
	code, _, errs = runApplet(t, "", "nc", "-z", "-w", "2", "127.0.0.1", closed)
	if want := "nc: 127.0.0.1 (127.0.0.1:" + closed + "): Connection refused\n"; code != 1 || errs != want {
		t.Errorf("nc -z closed = %d, %q, want %q", code, errs, want)
	}
	code, _, errs = runApplet(t, "", "nc", "-z")
	if code != 1 || !strings.Contains(errs, "Usage: nc") {
		t.Errorf("nc -z without host = %d, %q", code, errs)
	}
}

// TestNcConnect: stdin goes to the peer, then half-closes; the peer's
// reply comes out; nc ends when both sides are done.
func TestNcConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c) // until nc's half-close
		fmt.Fprintf(c, "got %q", b)
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	code, out, errs := runApplet(t, "line one\nline two\n", "nc", "127.0.0.1", port)
	if want := `got "line one\nline two\n"`; code != 0 || out != want || errs != "" {
		t.Errorf("nc = %d, %q, %q; want %q", code, out, errs, want)
	}
}

// TestNcListen: nc -l -p PORT takes one connection; -v tells about it.
func TestNcListen(t *testing.T) {
	port := closedPort(t)
	type result struct {
		code      int
		out, errs string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errs := runApplet(t, "from server\n", "nc", "-v", "-n", "-l", "-p", strconv.Itoa(port))
		done <- result{code, out, errs}
	}()
	c := dialRetry(t, port)
	got, err := io.ReadAll(c) // the server's stdin, then its half-close
	if err != nil || string(got) != "from server\n" {
		t.Errorf("read from nc -l = %q, %v", got, err)
	}
	io.WriteString(c, "from client\n")
	c.Close()
	r := <-done
	if r.code != 0 || r.out != "from client\n" {
		t.Errorf("nc -l = %d, %q, %q", r.code, r.out, r.errs)
	}
	if !strings.Contains(r.errs, fmt.Sprintf("listening on [::]:%d ...\n", port)) || !strings.Contains(r.errs, "connect to ") {
		t.Errorf("nc -lv stderr = %q", r.errs)
	}
}

// dialRetry connects to a loopback port a server is about to open.
func dialRetry(t *testing.T, port int) net.Conn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %d: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNcListenTimeout: -w bounds the wait for a connection.
func TestNcListenTimeout(t *testing.T) {
	start := time.Now()
	code, _, errs := runApplet(t, "", "nc", "-l", "-w", "1", "-p", strconv.Itoa(closedPort(t)))
	if code != 1 || errs != "nc: timeout\n" {
		t.Errorf("nc -l -w 1 = %d, %q", code, errs)
	}
	if d := time.Since(start); d < time.Second || d > 5*time.Second {
		t.Errorf("took %v, want about 1s", d)
	}
}

// TestNcExec runs the process: -e PROG [ARGS] gets the connection as its
// stdin and stdout; -lk serves every connection.
func TestNcExec(t *testing.T) {
	port := closedPort(t)
	cmd := appletCommand("nc", "-lk", "-p", strconv.Itoa(port), "-e", "sh", "-c", "read x; echo \"hello $x\"")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for i := 0; i < 2; i++ {
		c := dialRetry(t, port)
		fmt.Fprintf(c, "client%d\n", i)
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if want := fmt.Sprintf("hello client%d\n", i); line != want {
			t.Errorf("connection %d: %q, %v; want %q (stderr %q)", i, line, err, want, stderr.String())
		}
	}

	// Outbound: nc HOST PORT -e PROG replaces nc by PROG.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out, err := appletCommand("nc", "127.0.0.1", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), "-e", "echo", "pushed").CombinedOutput()
	if err != nil {
		t.Fatalf("nc -e echo: %v: %s", err, out)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	if string(got) != "pushed\n" {
		t.Errorf("nc -e echo sent %q", got)
	}
	err = appletCommand("nc", "127.0.0.1", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), "-e", "/nonexistent/prog").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 127 {
		t.Errorf("nc -e missing program = %v, want status 127", err)
	}
}

func TestNcUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)
	go func() {
		buf := make([]byte, 100)
		n, from, err := pc.ReadFrom(buf)
		if err == nil {
			pc.WriteTo(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	// UDP never closes: -w ends nc after the reply (two idle periods).
	code, out, _ := runApplet(t, "ping\n", "nc", "-u", "-w", "1", "127.0.0.1", port)
	if code != 0 || out != "echo:ping\n" {
		t.Errorf("nc -u = %d, %q", code, out)
	}
}

func TestHexdump(t *testing.T) {
	var b bytes.Buffer
	hexdump(&b, '>', 16, []byte("0123456789abcdef\x00xyz"))
	want := "> 00000010 30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66 # 0123456789abcdef\n" +
		"> 00000020 00 78 79 7a                                     # .xyz\n"
	if b.String() != want {
		t.Errorf("hexdump =\n%q\nwant\n%q", b.String(), want)
	}
}

func TestSplitExec(t *testing.T) {
	rest, prog := splitExec([]string{"-l", "-p", "80", "-e", "sh", "-c", "x"})
	if strings.Join(rest, " ") != "-l -p 80" || strings.Join(prog, " ") != "sh -c x" {
		t.Errorf("splitExec = %q, %q", rest, prog)
	}
	rest, prog = splitExec([]string{"-lke", "cat"})
	if strings.Join(rest, " ") != "-lk" || strings.Join(prog, " ") != "cat" {
		t.Errorf("splitExec(-lke) = %q, %q", rest, prog)
	}
	if _, prog := splitExec([]string{"-z", "h", "1"}); prog != nil {
		t.Errorf("no -e: prog = %q", prog)
	}
}
