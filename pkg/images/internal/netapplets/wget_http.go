package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// download fetches one URL, following up to four redirects, and saves or
// prints its body. A returned error is printed as "wget: ERROR" and ends the
// run with status 1.
func (w *wget) download(rawURL string) error {
	t, err := parseTarget(rawURL)
	if err != nil {
		return err
	}
	var proxy *target
	if w.cfg.proxy != "off" {
		if p := os.Getenv("http_proxy"); p != "" {
			pt, err := parseTarget(p)
			if err != nil {
				return err
			}
			proxy = &pt
		}
	}
	fname := w.cfg.outName
	if fname == "" {
		fname = w.outputName(t)
	}
	var begRange int64
	var contFile *os.File
	if w.cfg.cont && fname != "-" {
		// A missing file is created later, once the server has answered.
		if f, err := os.OpenFile(fname, os.O_WRONLY, 0); err == nil {
			defer f.Close()
			if begRange, err = f.Seek(0, io.SeekEnd); err != nil {
				return fatalf("seek '%s': %s", fname, errnoText(err))
			}
			contFile = f
		}
	}

	redirects := 5
	var ip string // resolved address of the server, kept for same-server redirects
	for {
		server := t
		if proxy != nil {
			server = *proxy
		}
		if ip == "" {
			if ip, err = resolve(hostOnly(server.host)); err != nil {
				return err
			}
			w.logf("Connecting to %s (%s)\n", server.host, net.JoinHostPort(ip, strconv.Itoa(server.port)))
		}
		resp, err := w.exchange(server, t, proxy != nil, ip, begRange)
		if err != nil {
			return err
		}
		if resp.location != "" {
			resp.conn.Close()
			if redirects--; redirects == 0 {
				return fatalf("too many redirections")
			}
			next, err := redirectTarget(t, resp.location)
			if err != nil {
				return err
			}
			if proxy == nil && next.host != t.host {
				ip = "" // another server: resolve and announce it
			}
			t = next
			continue
		}
		defer resp.conn.Close()
		if w.cfg.spider {
			w.logf("remote file exists\n")
			return nil
		}
		return w.save(resp, fname, contFile, begRange)
	}
}

// resolve looks host up as busybox's xhost2sockaddr does (DNS is not under
// -T) and returns its first address, preferring IPv4.
func resolve(host string) (string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return ip.String(), nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(context.Background(), host)
	if err != nil || len(addrs) == 0 {
		return "", fatalf("bad address '%s'", host)
	}
	for _, a := range addrs {
		if a.IP.To4() != nil {
			return a.IP.String(), nil
		}
	}
	return addrs[0].IP.String(), nil
}

// redirectTarget is where a Location header points, relative to t.
func redirectTarget(t target, loc string) (target, error) {
	if strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") {
		t.path = strings.TrimPrefix(loc, "/")
		return t, nil
	}
	if !strings.Contains(loc, "://") {
		base := &url.URL{Scheme: t.scheme, Host: t.host, Path: "/" + t.path}
		ref, err := url.Parse(loc)
		if err != nil {
			return t, fatalf("bad redirection: %s", loc)
		}
		loc = base.ResolveReference(ref).String()
	}
	next, err := parseTarget(loc)
	if err != nil {
		return t, err
	}
	if next.user == "" && next.host == t.host {
		next.user = t.user
	}
	return next, nil
}

// response is a status line and headers read, with the connection
// positioned at the body.
type response struct {
	conn          net.Conn
	body          *bufio.Reader
	status        int
	contentLength int64 // -1 when not given
	chunked       bool
	location      string // set for a redirect
}

// timeoutConn bounds every read and write by -T, as busybox bounds connect,
// each response line and each stall of the body by it.
type timeoutConn struct {
	net.Conn
	d time.Duration
}

func (c timeoutConn) Read(p []byte) (int, error) {
	if c.d > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(c.d))
	}
	return c.Conn.Read(p)
}

func (c timeoutConn) Write(p []byte) (int, error) {
	if c.d > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(c.d))
	}
	return c.Conn.Write(p)
}

// exchange connects to server (at ip), sends the request for t and reads
// the response up to the body. Error statuses are returned as errors.
func (w *wget) exchange(server, t target, viaProxy bool, ip string, begRange int64) (*response, error) {
	d := net.Dialer{Timeout: w.cfg.timeout}
	raw, err := d.Dial("tcp", net.JoinHostPort(ip, strconv.Itoa(server.port)))
	if err != nil {
		if isTimeout(err) {
			return nil, fatalf("download timed out")
		}
		return nil, fatalf("can't connect to remote host (%s): %s", ip, errnoText(err))
	}
	var conn net.Conn = timeoutConn{raw, w.cfg.timeout}
	if server.scheme == "https" {
		// busybox's own TLS never checks the certificate and says so; the
		// image has no CA certificates to check it against either.
		if !w.cfg.noCheckCert {
			fmt.Fprintf(w.env.stderr, "wget: note: TLS certificate validation not implemented\n")
		}
		tc := tls.Client(conn, &tls.Config{ServerName: tlsServerName(server.host), InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			raw.Close()
			if isTimeout(err) {
				return nil, fatalf("download timed out")
			}
			return nil, fatalf("TLS handshake with %s: %v", server.host, err)
		}
		conn = tc
	}
	resp := &response{conn: conn, body: bufio.NewReaderSize(conn, 64<<10), contentLength: -1}
	if err := w.sendRequest(conn, server, t, viaProxy, begRange); err != nil {
		raw.Close()
		return nil, err
	}
	if err := w.readHead(resp, begRange); err != nil {
		raw.Close()
		return nil, err
	}
	return resp, nil
}

func tlsServerName(hostPort string) string {
	h := hostOnly(hostPort)
	if net.ParseIP(h) != nil {
		return "" // SNI carries names only
	}
	return h
}

// sendRequest writes the request as busybox does: HTTP/1.1 with
// "Connection: close", user headers replacing the built-in ones they name.
func (w *wget) sendRequest(conn net.Conn, server, t target, viaProxy bool, begRange int64) error {
	var b strings.Builder
	method := "GET"
	if w.cfg.post != nil {
		method = "POST"
	}
	if viaProxy {
		fmt.Fprintf(&b, "%s %s://%s/%s HTTP/1.1\r\n", method, t.scheme, t.host, t.path)
	} else {
		fmt.Fprintf(&b, "%s /%s HTTP/1.1\r\n", method, t.path)
	}
	if !w.userHeader("Host") {
		fmt.Fprintf(&b, "Host: %s\r\n", t.host)
	}
	if !w.userHeader("User-Agent") {
		fmt.Fprintf(&b, "User-Agent: %s\r\n", w.cfg.userAgent)
	}
	b.WriteString("Connection: close\r\n")
	if t.user != "" && !w.userHeader("Authorization") {
		fmt.Fprintf(&b, "Authorization: Basic %s\r\n", base64.StdEncoding.EncodeToString([]byte(t.user)))
	}
	if viaProxy && server.user != "" && !w.userHeader("Proxy-Authorization") {
		fmt.Fprintf(&b, "Proxy-Authorization: Basic %s\r\n", base64.StdEncoding.EncodeToString([]byte(server.user)))
	}
	if begRange != 0 && !w.userHeader("Range") {
		fmt.Fprintf(&b, "Range: bytes=%d-\r\n", begRange)
	}
	for _, h := range w.cfg.headers {
		b.WriteString(h + "\r\n")
	}
	if w.cfg.post != nil {
		if !w.userHeader("Content-Type") {
			b.WriteString("Content-Type: application/x-www-form-urlencoded\r\n")
		}
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(*w.cfg.post), *w.cfg.post)
	} else {
		b.WriteString("\r\n")
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		if isTimeout(err) {
			return fatalf("download timed out")
		}
		return fatalf("error sending request: %s", errnoText(err))
	}
	return nil
}

// userHeader reports whether a --header sets the named header.
func (w *wget) userHeader(name string) bool {
	for _, h := range w.cfg.headers {
		if len(h) > len(name) && strings.EqualFold(h[:len(name)], name) && h[len(name)] == ':' {
			return true
		}
	}
	return false
}

// readLine reads one response line without its line end; -S echoes it.
func (w *wget) readLine(r *bufio.Reader, echo bool) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if isTimeout(err) {
			return "", fatalf("download timed out")
		}
		if errors.Is(err, io.EOF) {
			return "", fatalf("error getting response: Connection reset by peer")
		}
		return "", fatalf("error getting response: %s", errnoText(err))
	}
	line = strings.TrimRight(line, "\r\n")
	// busybox cuts a line at its first control character other than tab.
	if i := strings.IndexFunc(line, func(r rune) bool { return r < ' ' && r != '\t' }); i >= 0 {
		line = line[:i]
	}
	if echo && w.cfg.serverResponse {
		fmt.Fprintf(w.env.stderr, "  %s\n", line)
	}
	return line, nil
}

// readHead reads the status line and headers into resp. Statuses busybox
// treats as success: 200-204, 206 after a Range request, and redirects
// (which set resp.location); 100 Continue is skipped.
func (w *wget) readHead(resp *response, begRange int64) error {
	for {
		line, err := w.readLine(resp.body, true)
		if err != nil {
			return err
		}
		fields := strings.Fields(line)
		status := 0
		if len(fields) > 1 {
			status, _ = strconv.Atoi(fields[1])
		}
		switch {
		case status == 0 || status == 100:
			if err := w.skipHeaders(resp.body); err != nil {
				return err
			}
			continue
		case status >= 200 && status <= 204, status >= 300 && status <= 303, status == 307, status == 308:
		case status == 206 && begRange != 0:
		default:
			return fatalf("server returned error: %s", line)
		}
		resp.status = status
		break
	}
	for {
		line, err := w.readLine(resp.body, true)
		if err != nil {
			return err
		}
		if line == "" {
			return nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return fatalf("bad header line: %s", line)
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "content-length":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 0 {
				return fatalf("content-length %s is garbage", value)
			}
			resp.contentLength = n
		case "transfer-encoding":
			if !strings.EqualFold(value, "chunked") {
				return fatalf("transfer encoding '%s' is not supported", value)
			}
			resp.chunked = true
		case "location":
			if resp.status >= 300 {
				resp.location = value
			}
		}
	}
}

func (w *wget) skipHeaders(r *bufio.Reader) error {
	for {
		line, err := w.readLine(r, true)
		if err != nil || line == "" {
			return err
		}
	}
}

// save writes the body to fname ("-" is stdout), announcing it as busybox
// does: "saving to 'F'", a progress line, "'F' saved".
func (w *wget) save(resp *response, fname string, contFile *os.File, begRange int64) error {
	out, closeOut, err := w.openOutput(fname, contFile)
	if err != nil {
		return err
	}
	defer closeOut()
	if begRange != 0 && resp.status != 206 {
		// The server ignored Range: start over (the rest is truncated
		// once the new body is written).
		fmt.Fprintf(w.env.stderr, "wget: restart failed\n")
		if _, err := contFile.Seek(0, io.SeekStart); err != nil {
			return fatalf("seek: %s", errnoText(err))
		}
	}
	if fname == "-" {
		w.logf("writing to stdout\n")
	} else {
		w.logf("saving to '%s'\n", fname)
	}
	n, err := copyBody(out, resp)
	if err != nil {
		return err
	}
	if f, ok := out.(*os.File); ok && f == contFile {
		if pos, err := f.Seek(0, io.SeekCurrent); err == nil {
			f.Truncate(pos)
		}
	}
	curfile := path.Base(fname)
	w.logf("%s\n", progressLine(curfile, n))
	if fname == "-" {
		w.logf("written to stdout\n")
	} else {
		w.logf("'%s' saved\n", fname)
	}
	return nil
}

// openOutput returns where a body goes. -O - is stdout; -O FILE is opened
// (truncated) once and shared by all URLs; a name from the URL must not
// exist yet, as busybox opens it O_EXCL.
func (w *wget) openOutput(fname string, contFile *os.File) (io.Writer, func(), error) {
	switch {
	case fname == "-":
		return w.env.stdout, func() {}, nil
	case contFile != nil:
		return contFile, func() {}, nil
	case w.cfg.outName != "":
		if w.out == nil {
			f, err := os.OpenFile(fname, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
			if err != nil {
				return nil, nil, fatalf("can't open '%s': %s", fname, errnoText(err))
			}
			w.out, w.outFile = f, f
		}
		return w.out, func() {}, nil
	default:
		f, err := os.OpenFile(fname, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_EXCL, 0o666)
		if err != nil {
			return nil, nil, fatalf("can't open '%s': %s", fname, errnoText(err))
		}
		return f, func() { f.Close() }, nil
	}
}

// copyBody copies the body (by Content-Length, chunks, or to the end) and
// returns its size. A body cut short by the server ends the copy without
// an error, as in busybox.
func copyBody(out io.Writer, resp *response) (int64, error) {
	var total int64
	copyN := func(n int64) error {
		var src io.Reader = resp.body
		if n >= 0 {
			src = io.LimitReader(resp.body, n)
		}
		m, err := io.Copy(out, src)
		total += m
		if err != nil {
			var we *writeError
			if errors.As(err, &we) {
				return fatalf("write error: %s", errnoText(we.err))
			}
			if isTimeout(err) {
				return fatalf("download timed out")
			}
			return fatalf("read error: %s", errnoText(err))
		}
		return nil
	}
	out = writeErrWrapper{out}
	if !resp.chunked {
		return total, copyN(resp.contentLength)
	}
	for {
		line, err := resp.body.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return total, nil
			}
			if isTimeout(err) {
				return total, fatalf("download timed out")
			}
			return total, fatalf("read error: %s", errnoText(err))
		}
		sizeText, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		size, err := strconv.ParseInt(sizeText, 16, 64)
		if err != nil || size < 0 {
			return total, fatalf("bad chunk length '%s'", strings.TrimSpace(line))
		}
		if size == 0 {
			return total, nil
		}
		if err := copyN(size); err != nil {
			return total, err
		}
		if _, err := resp.body.ReadString('\n'); err != nil && !errors.Is(err, io.EOF) {
			return total, fatalf("read error: %s", errnoText(err))
		}
	}
}

// writeError marks an error of the output, so that it is not reported as
// a read error of the network.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

type writeErrWrapper struct{ w io.Writer }

func (w writeErrWrapper) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
}

// progressLine is the last state of busybox's progress bar for a finished
// transfer of n bytes.
func progressLine(name string, n int64) string {
	size, unit := n, ' '
	for _, u := range []rune{'k', 'M', 'G', 'T'} {
		if size < 100000 {
			break
		}
		size, unit = size/1024, u
	}
	return fmt.Sprintf("%-20.20s 100%% |%s| %5d%c 0:00:00 ETA", name, strings.Repeat("*", 32), size, unit)
}
