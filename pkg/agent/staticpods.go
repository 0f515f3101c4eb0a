package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/flotilla-io/flotilla/pkg/defaults"
	"github.com/flotilla-io/flotilla/pkg/validation"
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

// staticPods holds the pods of the manifest sources, by namespace/name.
// The pod controller runs them instead of whatever the API says.
type staticPods struct {
	mu       sync.Mutex
	bySource map[string]map[string]*corev1.Pod
}

func (s *staticPods) get(key string) *corev1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pods := range s.bySource {
		if p := pods[key]; p != nil {
			return p
		}
	}
	return nil
}

func (s *staticPods) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for _, pods := range s.bySource {
		for k := range pods {
			keys = append(keys, k)
		}
	}
	return keys
}

// set replaces one source's pods and returns the keys that were added,
// removed or changed. A pod whose UID (its content hash) is unchanged is
// kept as it was, config.seen included.
func (s *staticPods) set(source string, pods map[string]*corev1.Pod) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bySource == nil {
		s.bySource = map[string]map[string]*corev1.Pod{}
	}
	old := s.bySource[source]
	var changed []string
	for k, p := range pods {
		if o := old[k]; o != nil && o.UID == p.UID {
			pods[k] = o
			continue
		}
		changed = append(changed, k)
	}
	for k := range old {
		if pods[k] == nil {
			changed = append(changed, k)
		}
	}
	s.bySource[source] = pods
	return changed
}

// staticWatcher reads the manifest sources and reports each problem once,
// not at every poll.
type staticWatcher struct {
	a        *Agent
	reported map[string]string // origin -> last error text
	changed  func(keys []string)
}

// loadStatic reads the sources once, so that the pod controller knows the
// static pods before it judges mirror pods as orphans.
func (pc *podController) loadStatic(ctx context.Context) *staticWatcher {
	w := &staticWatcher{a: pc.a, reported: map[string]string{}, changed: func(keys []string) {
		for _, k := range keys {
			pc.queue.Add(k)
		}
	}}
	w.readDir(ctx)
	w.readURL(ctx)
	return w
}

// run polls the sources until ctx ends.
func (w *staticWatcher) run(ctx context.Context) {
	if w.a.cfg.StaticPodPath == "" && w.a.cfg.ManifestURL == "" {
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

func (w *staticWatcher) readDir(ctx context.Context) {
	dir := w.a.cfg.StaticPodPath
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
	w.changed(w.a.static.set(sourceFile, pods))
}

func (w *staticWatcher) readURL(ctx context.Context) {
	url := w.a.cfg.ManifestURL
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
	w.changed(w.a.static.set(sourceHTTP, pods))
}

// add parses one manifest into pods; bad documents are reported and
// skipped, the first of two pods of the same name wins.
func (w *staticWatcher) add(ctx context.Context, pods map[string]*corev1.Pod, data []byte, source, origin string) {
	found, errs := parseManifest(data, source, origin, w.a.cfg.NodeName)
	for _, p := range found {
		key := p.Namespace + "/" + p.Name
		if pods[key] != nil || w.a.static.other(source, key) {
			errs = append(errs, fmt.Errorf("pod %s: a static pod of that name exists already", key))
			continue
		}
		pods[key] = p
	}
	err := errors.Join(errs...)
	if w.report(origin, err) {
		for _, p := range rejected(errs) {
			w.a.event(ctx, p.pod, corev1.EventTypeWarning, "FailedCreate", p.Error())
		}
	}
}

// report logs err for origin when it differs from the last one and says
// whether it did.
func (w *staticWatcher) report(origin string, err error) bool {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if w.reported[origin] == msg {
		return false
	}
	w.reported[origin] = msg
	if err != nil {
		w.a.log.Error("static pod manifest", "source", origin, "err", err)
	}
	return err != nil
}

// other says whether another source has a pod of that key.
func (s *staticPods) other(source, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for src, pods := range s.bySource {
		if src != source && pods[key] != nil {
			return true
		}
	}
	return false
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

// rejection is a pod the agent refuses to run, kept for its event.
type rejection struct {
	pod *corev1.Pod
	err error
}

func (r *rejection) Error() string { return r.err.Error() }

func rejected(errs []error) []*rejection {
	var out []*rejection
	for _, err := range errs {
		var r *rejection
		if errors.As(err, &r) {
			out = append(out, r)
		}
	}
	return out
}

// parseManifest reads every Pod document of a YAML or JSON manifest and
// turns each into the static pod the node runs.
func parseManifest(data []byte, source, origin, node string) ([]*corev1.Pod, []error) {
	var pods []*corev1.Pod
	var errs []error
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for i := 0; ; i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", origin, i, err))
			break
		}
		if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
			continue
		}
		var tm metav1.TypeMeta
		if err := json.Unmarshal(raw, &tm); err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", origin, i, err))
			continue
		}
		if tm.Kind != "Pod" || tm.APIVersion != "v1" {
			errs = append(errs, fmt.Errorf("%s: document %d: want a v1 Pod, got %s %s", origin, i, tm.APIVersion, tm.Kind))
			continue
		}
		pod := &corev1.Pod{}
		if err := json.Unmarshal(raw, pod); err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", origin, i, err))
			continue
		}
		if err := staticDefaults(pod, raw, source, origin, node); err != nil {
			errs = append(errs, &rejection{pod: pod, err: fmt.Errorf("%s: pod %s/%s: %w", origin, pod.Namespace, pod.Name, err)})
			continue
		}
		pods = append(pods, pod)
	}
	return pods, errs
}

// staticHash is the UID of a static pod: the same manifest on the same
// node gives the same pod, a changed one a new pod (so it restarts).
func staticHash(raw []byte, source, origin, node string) types.UID {
	h := sha256.New()
	h.Write(raw)
	if source == sourceFile {
		fmt.Fprintf(h, "host:%s", node)
		fmt.Fprintf(h, "file:%s", origin)
	} else {
		fmt.Fprintf(h, "url:%s", origin)
	}
	return types.UID(hex.EncodeToString(h.Sum(nil))[:32])
}

// staticDefaults does what the kubelet does to a manifest's pod, then the
// API server's defaulting and validation.
func staticDefaults(pod *corev1.Pod, raw []byte, source, origin, node string) error {
	if pod.Name == "" {
		return errors.New("metadata.name is required")
	}
	if pod.UID == "" {
		pod.UID = staticHash(raw, source, origin, node)
	}
	pod.Name = pod.Name + "-" + strings.ToLower(node)
	if pod.Namespace == "" {
		pod.Namespace = metav1.NamespaceDefault
	}
	pod.Spec.NodeName = node
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[annConfigHash] = string(pod.UID)
	pod.Annotations[annConfigSource] = source
	pod.Annotations[annConfigSeen] = time.Now().Format(time.RFC3339Nano)
	// A static pod stays on its node whatever the node's taints.
	pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})
	sa := pod.Spec.ServiceAccountName
	defaults.Apply(pod)
	// Mirror pods are exempt from the service account default.
	if sa == "" {
		pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount = "", ""
	}
	if errs := validation.ValidateCreate(pod); len(errs) > 0 {
		return errs.ToAggregate()
	}
	return staticRefs(pod)
}

// staticRefs rejects what the API server's mirror pod admission rejects:
// a static pod may not depend on API objects.
func staticRefs(pod *corev1.Pod) error {
	var cms, secrets bool
	for _, v := range pod.Spec.Volumes {
		cms = cms || v.ConfigMap != nil
		secrets = secrets || v.Secret != nil
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				cms = cms || s.ConfigMap != nil
				secrets = secrets || s.Secret != nil
			}
		}
	}
	cs := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range cs {
		for _, e := range c.EnvFrom {
			cms = cms || e.ConfigMapRef != nil
			secrets = secrets || e.SecretRef != nil
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil {
				cms = cms || e.ValueFrom.ConfigMapKeyRef != nil
				secrets = secrets || e.ValueFrom.SecretKeyRef != nil
			}
		}
	}
	var kinds []string
	if cms {
		kinds = append(kinds, "configmaps")
	}
	if secrets || len(pod.Spec.ImagePullSecrets) > 0 {
		kinds = append(kinds, "secrets")
	}
	if len(kinds) > 0 {
		sort.Strings(kinds)
		return fmt.Errorf("static pods may not reference %s", strings.Join(kinds, " or "))
	}
	return nil
}
