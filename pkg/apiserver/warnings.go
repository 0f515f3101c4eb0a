package apiserver

import (
	"fmt"
	"net/http"
	"sync"

	"k8s.io/apiserver/pkg/warning"
)

// warningHeaders sends what request handling (admission plugins) adds
// through k8s.io/apiserver's warning.AddWarning as HTTP Warning headers,
// as upstream does: `299 - "text"`, each text once. Warnings added after
// the response started are dropped.
type warningHeaders struct {
	w    http.ResponseWriter
	mu   sync.Mutex
	seen map[string]bool
}

func (h *warningHeaders) AddWarning(agent, text string) {
	if text == "" {
		return
	}
	if agent == "" {
		agent = "-"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen[text] {
		return
	}
	if h.seen == nil {
		h.seen = map[string]bool{}
	}
	h.seen[text] = true
	h.w.Header().Add("Warning", fmt.Sprintf("299 %s %q", agent, text))
}

// withWarnings lets handlers of r add warnings to w.
func withWarnings(w http.ResponseWriter, r *http.Request) *http.Request {
	return r.WithContext(warning.WithWarningRecorder(r.Context(), &warningHeaders{w: w}))
}
