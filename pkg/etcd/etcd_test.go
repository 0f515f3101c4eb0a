package etcd_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-io/flotilla/pkg/etcd"
	"github.com/flotilla-io/flotilla/pkg/pki"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startEmbedded(t *testing.T) *etcd.Embedded {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.LoadOrIssue(filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key"), pki.LeafRequest{CommonName: "etcd", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true}); err != nil {
		t.Fatal(err)
	}
	e, err := etcd.Start(context.Background(), etcd.Config{
		DataDir:   filepath.Join(dir, "etcd"),
		ClientURL: fmt.Sprintf("https://127.0.0.1:%d", freePort(t)),
		PeerURL:   fmt.Sprintf("https://127.0.0.1:%d", freePort(t)),
		CertFile:  filepath.Join(dir, "s.crt"), KeyFile: filepath.Join(dir, "s.key"), TrustedCA: filepath.Join(dir, "ca.crt"),
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// TestWatchCancellationStorm cancels many watches of the in-process client
// at once while events flow to them, as a client with many informers that
// goes away does, and checks that watches opened afterwards still get
// events. Over one shared in-process watch stream this deadlocks the
// stream for good (the client's run loop blocks sending a cancel request
// while the server blocks sending it events): every later watch then
// stalls, and the API server's watchers see nothing more.
func TestWatchCancellationStorm(t *testing.T) {
	e := startEmbedded(t)
	c := e.Client
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Events flow to the watches throughout.
	writerCtx, stopWriter := context.WithCancel(ctx)
	var writer sync.WaitGroup
	writer.Go(func() {
		for i := 0; writerCtx.Err() == nil; i++ {
			if _, err := c.Put(writerCtx, fmt.Sprintf("/storm/k%d", i%50), fmt.Sprint(i)); err != nil && writerCtx.Err() == nil {
				t.Errorf("put: %v", err)
				return
			}
		}
	})
	defer func() {
		stopWriter()
		writer.Wait()
	}()

	const rounds, watches = 5, 100
	for round := range rounds {
		var drained sync.WaitGroup
		wctx, cancelWatches := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for range watches {
			wch := c.Watch(wctx, "/storm/", clientv3.WithPrefix(), clientv3.WithPrevKV())
			drained.Go(func() {
				for range wch {
				}
			})
		}
		// Let events reach every watch, then drop them all together.
		time.Sleep(50 * time.Millisecond)
		cancelWatches()
		closed := make(chan struct{})
		go func() {
			drained.Wait()
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: %d cancelled watches not closed within 10s", round, watches)
		}

		// A new watch must still see a new write.
		probeCtx, cancelProbe := context.WithTimeout(clientv3.WithRequireLeader(ctx), 10*time.Second)
		probe := c.Watch(probeCtx, "/probe/", clientv3.WithPrefix())
		key := fmt.Sprintf("/probe/%d", round)
		if _, err := c.Put(ctx, key, "x"); err != nil {
			cancelProbe()
			t.Fatal(err)
		}
		seen := false
		for resp := range probe {
			for _, ev := range resp.Events {
				if string(ev.Kv.Key) == key {
					seen = true
				}
			}
			if seen {
				break
			}
		}
		cancelProbe()
		if !seen {
			t.Fatalf("round %d: a watch opened after %d watches were cancelled saw no event within 10s", round, watches)
		}
	}
}
