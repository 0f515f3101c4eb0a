package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// wgetUsage is busybox 1.36's text for `wget --help`.
const wgetUsage = `Usage: wget [-cqS] [--spider] [-O FILE] [-o LOGFILE] [--header STR]
	[--post-data STR | --post-file FILE] [-Y on/off]
	[--no-check-certificate] [-P DIR] [-U AGENT] [-T SEC] URL...

Retrieve files via HTTP or FTP

	--spider	Only check URL existence: $? is 0 if exists
	--header STR	Add STR (of form 'header: value') to headers
	--post-data STR	Send STR using POST method
	--post-file FILE	Send FILE using POST method
	--no-check-certificate	Don't validate the server's certificate
	-c		Continue retrieval of aborted transfer
	-q		Quiet
	-P DIR		Save to DIR (default .)
	-S    		Show server response
	-T SEC		Network read timeout is SEC seconds
	-O FILE		Save to FILE ('-' for stdout)
	-o LOGFILE	Log messages to FILE
	-U STR		Use STR for User-Agent header
	-Y on/off	Use proxy
`

// wgetSpec is busybox wget's option string "cqSO:o:P:Y:U:T:+t:n::" and its
// long options; -t, -n* and the long options below "ignored" are accepted
// and have no effect, as in busybox.
var wgetSpec = optSpec{
	short: map[byte]argKind{
		'c': noArg, 'q': noArg, 'S': noArg, 'O': requiredArg, 'o': requiredArg, 'P': requiredArg,
		'Y': requiredArg, 'U': requiredArg, 'T': requiredArg, 't': requiredArg, 'n': optionalArg,
	},
	long: map[string]longOpt{
		"continue":             {"c", noArg},
		"quiet":                {"q", noArg},
		"server-response":      {"S", noArg},
		"output-document":      {"O", requiredArg},
		"output-file":          {"o", requiredArg},
		"directory-prefix":     {"P", requiredArg},
		"proxy":                {"Y", requiredArg},
		"user-agent":           {"U", requiredArg},
		"timeout":              {"T", requiredArg},
		"tries":                {"t", requiredArg},
		"header":               {"header", requiredArg},
		"post-data":            {"post-data", requiredArg},
		"post-file":            {"post-file", requiredArg},
		"spider":               {"spider", noArg},
		"no-check-certificate": {"no-check-certificate", noArg},
		// ignored
		"passive-ftp":         {"ignored", noArg},
		"no-cache":            {"ignored", noArg},
		"no-verbose":          {"ignored", noArg},
		"no-clobber":          {"ignored", noArg},
		"no-host-directories": {"ignored", noArg},
		"no-parent":           {"ignored", noArg},
	},
}

// wgetConfig is the parsed command line.
type wgetConfig struct {
	cont, quiet, serverResponse, spider, noCheckCert bool
	outName                                          string // -O; "" = from the URL
	dirPrefix                                        string // -P
	proxy                                            string // -Y on|off
	userAgent                                        string
	timeout                                          time.Duration // 0 = none
	headers                                          []string
	post                                             *string // body of --post-data/--post-file
}

// wgetFatal is an error that ends wget with status 1 after printing
// "wget: " and its text, as busybox's bb_error_msg_and_die.
type wgetFatal struct{ msg string }

func (e *wgetFatal) Error() string { return e.msg }

func fatalf(format string, a ...any) error { return &wgetFatal{fmt.Sprintf(format, a...)} }

func wgetMain(e env) int {
	opts, urls, err := parseOpts(e.args, wgetSpec)
	if err != nil || len(urls) == 0 {
		if err != nil {
			fmt.Fprintf(e.stderr, "wget: %v\n", err)
		}
		fmt.Fprint(e.stderr, wgetUsage)
		return 1
	}
	cfg := wgetConfig{proxy: "on", userAgent: "Wget", timeout: 900 * time.Second}
	var logFile, postFile string
	for _, o := range opts {
		switch o.key {
		case "c":
			cfg.cont = true
		case "q":
			cfg.quiet = true
		case "S":
			cfg.serverResponse = true
		case "O":
			cfg.outName = o.val
		case "o":
			logFile = o.val
		case "P":
			cfg.dirPrefix = o.val
		case "Y":
			cfg.proxy = o.val
		case "U":
			cfg.userAgent = o.val
		case "T":
			// busybox: xatoi_positive; 0 turns the timeout off.
			n, err := strconv.ParseUint(o.val, 10, 31)
			if err != nil {
				fmt.Fprintf(e.stderr, "wget: invalid number '%s'\n", o.val)
				return 1
			}
			cfg.timeout = time.Duration(n) * time.Second
		case "header":
			cfg.headers = append(cfg.headers, o.val)
		case "post-data":
			v := o.val
			cfg.post = &v
		case "post-file":
			postFile = o.val
		case "spider":
			cfg.spider = true
		case "no-check-certificate":
			cfg.noCheckCert = true
		}
	}
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
		if err != nil {
			fmt.Fprintf(e.stderr, "wget: can't open '%s': %s\n", logFile, errnoText(err))
			return 1
		}
		defer f.Close()
		e.stderr = f
	}
	if postFile != "" {
		b, err := os.ReadFile(postFile)
		if err != nil {
			fmt.Fprintf(e.stderr, "wget: can't open '%s': %s\n", postFile, errnoText(err))
			return 1
		}
		s := string(b)
		cfg.post = &s
	}
	w := &wget{cfg: cfg, env: e}
	defer w.closeOutput()
	for _, u := range urls {
		if err := w.download(u); err != nil {
			fmt.Fprintf(e.stderr, "wget: %s\n", err.Error())
			return 1
		}
	}
	return 0
}

// wget holds the state of one run over its URLs.
type wget struct {
	cfg wgetConfig
	env env
	// out is the open -O file, shared by all URLs as in busybox (-O FILE
	// receives every URL's body, one after the other).
	out io.Writer
	// outFile is out when it is a file wget opened.
	outFile *os.File
}

func (w *wget) closeOutput() {
	if w.outFile != nil {
		w.outFile.Close()
	}
}

// logf prints a progress message unless -q.
func (w *wget) logf(format string, a ...any) {
	if !w.cfg.quiet {
		fmt.Fprintf(w.env.stderr, format, a...)
	}
}

// target is a parsed URL the way busybox's parse_url splits it.
type target struct {
	scheme string // http or https
	host   string // as written, with ":port" if given (sent as Host:)
	port   int
	path   string // without the leading "/", query included
	user   string // "user:password", percent-decoded, or ""
}

// parseTarget splits rawURL. A URL without "scheme://" is http, as in GNU
// wget and busybox.
func parseTarget(rawURL string) (target, error) {
	t := target{scheme: "http"}
	rest := rawURL
	if scheme, after, ok := strings.Cut(rawURL, "://"); ok {
		switch strings.ToLower(scheme) {
		case "http", "https":
			t.scheme = strings.ToLower(scheme)
		case "ftp", "ftps":
			return t, fatalf("%s URLs are not supported: %s", scheme, rawURL)
		default:
			return t, fatalf("not an http or ftp url: %s", rawURL)
		}
		rest = after
	}
	hostEnd := strings.IndexAny(rest, "/?#")
	if hostEnd < 0 {
		hostEnd = len(rest)
	}
	t.host, t.path = rest[:hostEnd], rest[hostEnd:]
	t.path = strings.TrimPrefix(t.path, "/")
	if i := strings.IndexByte(t.path, '#'); i >= 0 {
		t.path = t.path[:i]
	}
	if at := strings.LastIndexByte(t.host, '@'); at >= 0 {
		user, err := url.PathUnescape(t.host[:at])
		if err != nil {
			user = t.host[:at]
		}
		t.user, t.host = user, t.host[at+1:]
	}
	t.port = 80
	if t.scheme == "https" {
		t.port = 443
	}
	if _, p, ok := splitHostPort(t.host); ok {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return t, fatalf("bad port spec '%s'", p)
		}
		t.port = n
	}
	if hostOnly(t.host) == "" {
		return t, fatalf("bad address '%s'", t.host)
	}
	return t, nil
}

// splitHostPort splits "host:port" and "[v6]:port"; ok is false without a
// port.
func splitHostPort(hp string) (host, port string, ok bool) {
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 || !strings.HasPrefix(hp[end+1:], ":") {
			return "", "", false
		}
		return hp[1:end], hp[end+2:], true
	}
	if strings.Count(hp, ":") != 1 {
		return "", "", false // no port, or a bare IPv6 address
	}
	host, port, _ = strings.Cut(hp, ":")
	return host, port, true
}

// hostOnly returns the host name or address of a URL's host part, without
// port and brackets.
func hostOnly(hp string) string {
	if h, _, ok := splitHostPort(hp); ok {
		return h
	}
	return strings.Trim(hp, "[]")
}

// outputName is the file a URL is saved to without -O: the last path
// component, or index.html; -P DIR goes before it.
func (w *wget) outputName(t target) string {
	name := path.Base("/" + t.path)
	if t.path == "" || strings.HasSuffix(t.path, "/") || name == "/" {
		name = "index.html"
	}
	if w.cfg.dirPrefix != "" {
		name = path.Join(w.cfg.dirPrefix, name)
	}
	return name
}

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
