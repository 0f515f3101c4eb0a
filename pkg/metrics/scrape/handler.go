package scrape

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
)

// FromHandler scrapes a node agent running in this process through its
// handler, without a connection.
func (c *Client) FromHandler(ctx context.Context, h http.Handler) (*Batch, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, Path, nil)
	if err != nil {
		return nil, err
	}
	w := &bufferWriter{header: http.Header{}, code: http.StatusOK}
	h.ServeHTTP(w, req)
	if w.code != http.StatusOK {
		return nil, fmt.Errorf("scrape local agent: %d %s", w.code, http.StatusText(w.code))
	}
	return Parse(&w.body, c.now())
}

// bufferWriter is an in-memory http.ResponseWriter.
type bufferWriter struct {
	header http.Header
	code   int
	wrote  bool
	body   bytes.Buffer
}

func (w *bufferWriter) Header() http.Header { return w.header }

func (w *bufferWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
}

func (w *bufferWriter) Write(b []byte) (int, error) {
	w.wrote = true
	if w.body.Len()+len(b) > maxBody {
		return 0, fmt.Errorf("resource metrics larger than %d bytes", maxBody)
	}
	return w.body.Write(b)
}
