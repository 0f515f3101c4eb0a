//go:build tools

// Package conformance pins the upstream Kubernetes end-to-end suite and the
// tools it needs (ginkgo, agnhost, the sample API server) at the version Flotilla
// reports, in a module of its own so the product's dependencies never move
// with it. hack/conformance (make conformance) builds the binaries from
// this module: e2e.test, the ginkgo CLI of the same version, agnhost and
// the sample API server.
package conformance

import (
	_ "github.com/onsi/ginkgo/v2/ginkgo"
	_ "k8s.io/kubernetes/test/e2e"
	_ "k8s.io/kubernetes/test/images/agnhost"
	_ "k8s.io/sample-apiserver"
)
