package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer serves a few paths on loopback and records the requests.
type testServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	body []string
}

func newTestServer(t *testing.T) *testServer {
	s := &testServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("/file.txt", func(w http.ResponseWriter, r *http.Request) {
		if rg := r.Header.Get("Range"); rg == "bytes=6-" {
			w.Header().Set("Content-Range", "bytes 6-10/11")
			w.WriteHeader(http.StatusPartialContent)
			io.WriteString(w, "body\n")
			return
		}
		io.WriteString(w, "hello body\n")
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/file.txt", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s ua=%s x=%s ct=%s body=%s\n", r.Method, r.URL.RequestURI(), r.UserAgent(), r.Header.Get("X-Test"), r.Header.Get("Content-Type"), b)
	})
	mux.HandleFunc("/dir/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "index\n") })
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r)
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func TestWgetToStdout(t *testing.T) {
	s := newTestServer(t)
	code, out, errs := runApplet(t, "", "wget", "-T", "3", "-q", "-O-", s.URL+"/file.txt")
	if code != 0 || out != "hello body\n" || errs != "" {
		t.Fatalf("wget -T 3 -q -O- = %d, %q, %q", code, out, errs)
	}
	code, out, errs = runApplet(t, "", "wget", "-O", "-", s.URL+"/file.txt")
	host := strings.TrimPrefix(s.URL, "http://")
	for _, want := range []string{"Connecting to " + host + " (" + host + ")\n", "writing to stdout\n", "written to stdout\n"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr %q lacks %q", errs, want)
		}
	}
	if code != 0 || out != "hello body\n" {
		t.Errorf("wget -O - = %d, %q", code, out)
	}
	code, out, _ = runApplet(t, "", "wget", "-qO-", s.URL+"/chunked")
	if code != 0 || out != "part0;part1;part2;" {
		t.Errorf("chunked body = %d, %q", code, out)
	}
	code, out, _ = runApplet(t, "", "wget", "-qO-", s.URL+"/redirect")
	if code != 0 || out != "hello body\n" {
		t.Errorf("redirect = %d, %q", code, out)
	}
	code, _, errs = runApplet(t, "", "wget", "-qO-", s.URL+"/loop")
	if code != 1 || errs != "wget: too many redirections\n" {
		t.Errorf("redirect loop = %d, %q", code, errs)
	}
	// Headers, user agent and POST as busybox sends them.
	code, out, _ = runApplet(t, "", "wget", "-q", "-O-", "-U", "agent/1", "--header", "X-Test: yes", "--post-data", "a=b", s.URL+"/echo?q=1")
	if want := "POST /echo?q=1 ua=agent/1 x=yes ct=application/x-www-form-urlencoded body=a=b\n"; code != 0 || out != want {
		t.Errorf("POST = %d, %q, want %q", code, out, want)
	}
	code, out, _ = runApplet(t, "", "wget", "-q", "-O-", s.URL+"/echo")
	if want := "GET /echo ua=Wget x= ct= body=\n"; code != 0 || out != want {
		t.Errorf("GET = %d, %q, want %q", code, out, want)
	}
	s.mu.Lock()
	last := s.reqs[len(s.reqs)-1]
	s.mu.Unlock()
	if last.Proto != "HTTP/1.1" || !last.Close || last.Host != host {
		t.Errorf("request %s Close=%v Host=%q; want HTTP/1.1, Connection: close, Host %q", last.Proto, last.Close, last.Host, host)
	}
}

func TestWgetErrors(t *testing.T) {
	s := newTestServer(t)
	port := closedPort(t)
	start := time.Now()
	code, out, errs := runApplet(t, "", "wget", "-T", "3", "-q", "-O-", fmt.Sprintf("http://127.0.0.1:%d/", port))
	if want := "wget: can't connect to remote host (127.0.0.1): Connection refused\n"; code != 1 || out != "" || errs != want {
		t.Errorf("closed port = %d, %q, %q; want 1 and %q", code, out, errs, want)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed port took %v", d)
	}
	code, _, errs = runApplet(t, "", "wget", "-q", "-O-", s.URL+"/missing")
	if want := "wget: server returned error: HTTP/1.1 404 Not Found\n"; code != 1 || errs != want {
		t.Errorf("404 = %d, %q, want %q", code, errs, want)
	}
	code, _, errs = runApplet(t, "", "wget", "--spider", s.URL+"/missing")
	if code != 1 || !strings.Contains(errs, "404 Not Found") {
		t.Errorf("--spider 404 = %d, %q", code, errs)
	}
	code, _, errs = runApplet(t, "", "wget", "--spider", s.URL+"/file.txt")
	if code != 0 || !strings.HasSuffix(errs, "remote file exists\n") {
		t.Errorf("--spider = %d, %q", code, errs)
	}
	code, _, errs = runApplet(t, "", "wget", "-T", "x", s.URL)
	if code != 1 || errs != "wget: invalid number 'x'\n" {
		t.Errorf("-T x = %d, %q", code, errs)
	}
	code, _, errs = runApplet(t, "", "wget")
	if code != 1 || !strings.Contains(errs, "Usage: wget") {
		t.Errorf("no URL = %d, %q", code, errs)
	}
	code, _, errs = runApplet(t, "", "wget", "-q", "gopher://x/")
	if code != 1 || errs != "wget: not an http or ftp url: gopher://x/\n" {
		t.Errorf("gopher = %d, %q", code, errs)
	}
}

// TestWgetTimeout: -T bounds a response that stalls, and ends wget with
// busybox's message.
func TestWgetTimeout(t *testing.T) {
	release := make(chan struct{})
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		<-release
	}))
	t.Cleanup(func() { close(release); stall.Close() })
	start := time.Now()
	code, out, errs := runApplet(t, "", "wget", "-T", "1", "-q", "-O-", stall.URL)
	d := time.Since(start)
	if code != 1 || out != "partial" || errs != "wget: download timed out\n" {
		t.Errorf("stalled body = %d, %q, %q", code, out, errs)
	}
	if d < time.Second || d > 5*time.Second {
		t.Errorf("timed out after %v, want about 1s", d)
	}
}

func TestWgetFiles(t *testing.T) {
	s := newTestServer(t)
	dir := t.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(wd) })

	code, _, errs := runApplet(t, "", "wget", s.URL+"/file.txt")
	if code != 0 || !strings.Contains(errs, "saving to 'file.txt'\n") || !strings.HasSuffix(errs, "'file.txt' saved\n") {
		t.Errorf("wget URL = %d, %q", code, errs)
	}
	if b, _ := os.ReadFile("file.txt"); string(b) != "hello body\n" {
		t.Errorf("file.txt = %q", b)
	}
	// busybox never overwrites a file named after the URL.
	code, _, errs = runApplet(t, "", "wget", "-q", s.URL+"/file.txt")
	if code != 1 || errs != "wget: can't open 'file.txt': File exists\n" {
		t.Errorf("existing file = %d, %q", code, errs)
	}
	// -c asks for the rest.
	if err := os.WriteFile("file.txt", []byte("hello "), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs = runApplet(t, "", "wget", "-q", "-c", s.URL+"/file.txt")
	if b, _ := os.ReadFile("file.txt"); code != 0 || string(b) != "hello body\n" {
		t.Errorf("-c = %d, %q, file %q", code, errs, b)
	}
	code, _, _ = runApplet(t, "", "wget", "-q", "-P", "sub", s.URL+"/dir/")
	if b, _ := os.ReadFile(filepath.Join("sub", "index.html")); code != 1 || b != nil {
		// -P DIR does not create DIR (busybox neither).
		t.Errorf("-P into a missing dir = %d, file %q", code, b)
	}
	os.Mkdir("sub", 0o755)
	code, _, _ = runApplet(t, "", "wget", "-q", "-P", "sub", s.URL+"/dir/")
	if b, _ := os.ReadFile(filepath.Join("sub", "index.html")); code != 0 || string(b) != "index\n" {
		t.Errorf("-P sub dir/ = %d, file %q", code, b)
	}
	// -O FILE overwrites and takes every URL; -o LOGFILE gets the messages.
	os.WriteFile("out", []byte("old content that is long"), 0o644)
	code, _, errs = runApplet(t, "", "wget", "-O", "out", "-o", "log", s.URL+"/file.txt", s.URL+"/file.txt")
	b, _ := os.ReadFile("out")
	logText, _ := os.ReadFile("log")
	if code != 0 || errs != "" || string(b) != "hello body\nhello body\n" || !strings.Contains(string(logText), "'out' saved") {
		t.Errorf("-O out -o log = %d, %q, out %q, log %q", code, errs, b, logText)
	}
}

// TestWgetProcess runs wget as a process (as the image does): no crash, the
// exit statuses of busybox.
func TestWgetProcess(t *testing.T) {
	s := newTestServer(t)
	out, err := appletCommand("wget", "-T", "3", "-q", "-O-", s.URL+"/file.txt").Output()
	if err != nil || string(out) != "hello body\n" {
		t.Errorf("wget process = %q, %v", out, err)
	}
	err = appletCommand("wget", "-T", "3", "-q", "-O-", fmt.Sprintf("http://127.0.0.1:%d/", closedPort(t))).Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("wget to a closed port = %v, want exit status 1", err)
	}
}
