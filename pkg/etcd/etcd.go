package etcd

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"
	"google.golang.org/grpc/metadata"
)

// Config describes the embedded member.
type Config struct {
	DataDir   string
	ClientURL string // e.g. https://127.0.0.1:2379
	PeerURL   string // e.g. https://127.0.0.1:2380
	CertFile  string // serving/peer certificate, signed by TrustedCA
	KeyFile   string
	TrustedCA string
}

// Embedded is a running in-process etcd member.
type Embedded struct {
	etcd   *embed.Etcd
	Client *clientv3.Client
	mute   *atomic.Bool
	dir    string // the member's data directory
	quota  int64  // etcd's own backend quota (QuotaBackendBytes)
}

// Start starts the member and waits until it serves. The returned client
// talks to it in-process.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Embedded, error) {
	ec := embed.NewConfig()
	ec.Name = memberName
	ec.InitialClusterToken = clusterToken
	ec.Dir = cfg.DataDir
	clientURL, err := url.Parse(cfg.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("etcd client URL: %w", err)
	}
	peerURL, err := url.Parse(cfg.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("etcd peer URL: %w", err)
	}
	ec.ListenClientUrls = []url.URL{*clientURL}
	ec.AdvertiseClientUrls = []url.URL{*clientURL}
	ec.ListenPeerUrls = []url.URL{*peerURL}
	ec.AdvertisePeerUrls = []url.URL{*peerURL}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	ec.ClientTLSInfo.CertFile = cfg.CertFile
	ec.ClientTLSInfo.KeyFile = cfg.KeyFile
	ec.ClientTLSInfo.TrustedCAFile = cfg.TrustedCA
	ec.ClientTLSInfo.ClientCertAuth = true
	ec.PeerTLSInfo = ec.ClientTLSInfo
	ec.EnableGRPCGateway = false
	// No auto-compaction: the server compacts the embedded member as it
	// does an external cluster (Maintain), so both keep the same history.
	// A lone member on loopback has no peers to wait for: short ticks make
	// it elect itself (and so serve) in tens of milliseconds after a restart.
	ec.TickMs = 10
	ec.ElectionMs = 100
	ec.SnapshotCount = 10000
	ec.QuotaBackendBytes = 8 << 30
	ec.MaxRequestBytes = 3 << 20
	mute := &atomic.Bool{}
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.New(newSlogCore(log.With("component", "etcd"), zap.ErrorLevel, mute)))

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", cfg.DataDir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd failed: %w", err)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("embedded etcd did not become ready within 60s")
	}
	c := v3client.New(e.Server)
	c.Watcher = &streamPerWatch{Watcher: c.Watcher}
	return &Embedded{etcd: e, Client: c, mute: mute, dir: cfg.DataDir, quota: ec.QuotaBackendBytes}, nil
}

// streamPerWatch gives every watch of the in-process client a watch
// stream of its own. The client multiplexes the watches that share
// outgoing metadata onto one stream, and in-process that stream is a pair
// of Go channels without the buffering of a network connection: when many
// of its watches are cancelled at once (a client with many informers goes
// away), the client's stream loop blocks sending the cancel requests while
// the server blocks sending it events, and the stream, with every watch on
// it, stops for good (etcd issues 18879 and 20716). A stream with a single
// watch sends no cancel request: it is torn down when its watch ends.
type streamPerWatch struct {
	clientv3.Watcher
	seq atomic.Uint64
}

// streamKey is the outgoing metadata that sets a watch's stream apart.
const streamKey = "flotilla-watch-stream"

func (w *streamPerWatch) Watch(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan {
	ctx = metadata.AppendToOutgoingContext(ctx, streamKey, strconv.FormatUint(w.seq.Add(1), 10))
	return w.Watcher.Watch(ctx, key, opts...)
}

// Err reports a fatal error of the running member.
func (e *Embedded) Err() <-chan error { return e.etcd.Err() }

// Close stops the member, flushing what it has acknowledged.
func (e *Embedded) Close() {
	e.mute.Store(true)
	e.Client.Close()
	e.etcd.Close()
}

// Dial connects to an external etcd cluster given as comma-separated URLs.
// tlsConfig may be nil for plain-HTTP endpoints.
func Dial(ctx context.Context, endpoints string, tlsConfig *tls.Config, log *slog.Logger) (*clientv3.Client, error) {
	var eps []string
	for _, ep := range strings.Split(endpoints, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("no etcd endpoints in %q", endpoints)
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   eps,
		DialTimeout: 10 * time.Second,
		TLS:         tlsConfig,
		Logger:      zap.New(newSlogCore(log.With("component", "etcd-client"), zap.ErrorLevel, &atomic.Bool{})),
		Context:     ctx,
	})
	if err != nil {
		return nil, fmt.Errorf("dial etcd %v: %w", eps, err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Status(sctx, eps[0]); err != nil {
		c.Close()
		return nil, fmt.Errorf("etcd %s not reachable: %w", eps[0], err)
	}
	return c, nil
}
