package integration

import (
	"testing"

	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// rootCA is the ConfigMap the control plane puts in every namespace.
const rootCA = "kube-root-ca.crt"

// settled waits until the controllers have put into ns what they put in
// every namespace, so tests that count objects count them deterministically.
func settled(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	testserver.Settled(t, cs, ns)
}
