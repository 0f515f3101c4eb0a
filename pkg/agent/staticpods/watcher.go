package staticpods

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The kubelet's annotations on static pods and their mirrors.
const (
	annConfigSource = "kubernetes.io/config.source"
	annConfigHash   = "kubernetes.io/config.hash"
	annConfigSeen   = "kubernetes.io/config.seen"
)

// Sources of static pods, the values of kubernetes.io/config.source.
const (
	sourceFile = "file"
	sourceHTTP = "http"
)

// How often the manifest directory and URL are read: polling keeps the
// agent free of inotify, and a few seconds is what the kubelet takes too.
const (
	fileCheckEvery = 2 * time.Second
	urlCheckEvery  = 20 * time.Second
)

// Recorder records an event about a pod.
type Recorder interface {
	Event(ctx context.Context, pod *corev1.Pod, eventType, reason, message string)
}

// WatcherConfig is where a Watcher reads manifests and whom it tells.
type WatcherConfig struct {
	Dir      string // the manifest directory; "" = none
	URL      string // the manifest URL; "" = none
	NodeName string
	Events   Recorder // FailedCreate events of rejected manifests' pods
	Log      *slog.Logger
	// Changed receives the keys of pods that were added, removed or
	// changed.
	Changed func(keys []string)
}

// Watcher reads the manifest sources into a Table and reports each
// problem once, not at every poll.
type Watcher struct {
	cfg      WatcherConfig
	table    *Table
	reported map[string]string // origin -> last error text
}

// NewWatcher is a Watcher filling table.
func NewWatcher(table *Table, cfg WatcherConfig) *Watcher {
	return &Watcher{cfg: cfg, table: table, reported: map[string]string{}}
}

// Load reads the sources once, so that the pod worker knows the static
// pods before it judges mirror pods as orphans.
func (w *Watcher) Load(ctx context.Context) {
	w.readDir(ctx)
	w.readURL(ctx)
}

// Run polls the sources until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	if w.cfg.Dir == "" && w.cfg.URL == "" {
		return
	}
	fileT := time.NewTicker(fileCheckEvery)
	defer fileT.Stop()
	urlT := time.NewTicker(urlCheckEvery)
	defer urlT.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-fileT.C:
			w.readDir(ctx)
		case <-urlT.C:
			w.readURL(ctx)
		}
	}
}

func (w *Watcher) readDir(ctx context.Context) {
	dir := w.cfg.Dir
	if dir == "" {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Keep the pods we have: a transient error must not stop them.
		w.report(dir, err)
		return
	}
	w.report(dir, nil)
	pods := map[string]*corev1.Pod{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !isManifestFile(name) {
			continue
		}
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			w.report(path, err)
			continue
		}
		w.add(ctx, pods, data, sourceFile, path)
	}
	w.cfg.Changed(w.table.set(sourceFile, pods))
}

func (w *Watcher) readURL(ctx context.Context) {
	url := w.cfg.URL
	if url == "" {
		return
	}
	data, err := fetch(ctx, url)
	if err != nil {
		w.report(url, err)
		return
	}
	w.report(url, nil)
	pods := map[string]*corev1.Pod{}
	w.add(ctx, pods, data, sourceHTTP, url)
	w.cfg.Changed(w.table.set(sourceHTTP, pods))
}

// add parses one manifest into pods; bad documents are reported and
// skipped, the first of two pods of the same name wins.
func (w *Watcher) add(ctx context.Context, pods map[string]*corev1.Pod, data []byte, source, origin string) {
	found, errs := parseManifest(data, source, origin, w.cfg.NodeName)
	for _, p := range found {
		key := p.Namespace + "/" + p.Name
		if pods[key] != nil || w.table.other(source, key) {
			errs = append(errs, fmt.Errorf("pod %s: a static pod of that name exists already", key))
			continue
		}
		pods[key] = p
	}
	err := errors.Join(errs...)
	if w.report(origin, err) {
		for _, p := range rejected(errs) {
			w.cfg.Events.Event(ctx, p.pod, corev1.EventTypeWarning, "FailedCreate", p.Error())
		}
	}
}

// report logs err for origin when it differs from the last one and says
// whether it did.
func (w *Watcher) report(origin string, err error) bool {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if w.reported[origin] == msg {
		return false
	}
	w.reported[origin] = msg
	if err != nil {
		w.cfg.Log.Error("static pod manifest", "source", origin, "err", err)
	}
	return err != nil
}

func isManifestFile(name string) bool {
	switch filepath.Ext(name) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func fetch(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 10<<20))
}
