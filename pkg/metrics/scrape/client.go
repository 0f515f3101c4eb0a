package scrape

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Path is where a node serves its resource metrics, below its base URL.
const Path = "/metrics/resource"

// maxBody bounds what one node may send: a full node (110 pods of a few
// containers) sends well under 1 MiB.
const maxBody = 16 << 20

// Client fetches nodes' resource metrics.
type Client struct {
	http *http.Client
	now  func() time.Time
}

// NewClient is a Client presenting tlsConfig's client certificate and
// trusting its roots.
func NewClient(tlsConfig *tls.Config) *Client {
	tr := &http.Transport{
		TLSClientConfig:     tlsConfig,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 5 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConns:        1000,
		MaxIdleConnsPerHost: 64, // simulated nodes share one host
	}
	return &Client{http: &http.Client{Transport: tr}, now: time.Now}
}

// Fetch scrapes base + Path; ctx bounds the whole request.
func (c *Client) Fetch(ctx context.Context, base string) (*Batch, error) {
	url := strings.TrimSuffix(base, "/") + Path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	b, err := Parse(io.LimitReader(resp.Body, maxBody), c.now())
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return b, nil
}

// CloseIdle drops kept-alive connections.
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }
