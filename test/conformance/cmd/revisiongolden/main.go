// Command revisiongolden prints the ControllerRevision data that
// Kubernetes v1.32 clients (kubectl rollout, the e2e suite's
// daemon.Match) compute for the pod template read from stdin: the
// golden file of pkg/controller/history's test. It is built against the
// v1.32 API types of this module on purpose; the product uses newer ones,
// which encode some fields differently.
//
//	go run ./cmd/revisiongolden < ../../pkg/controller/history/testdata/template.json > ../../pkg/controller/history/testdata/template.v1.32.golden
package main

import (
	"encoding/json"
	"fmt"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/kubernetes/pkg/controller/daemon"
)

func main() {
	ds := &appsv1.DaemonSet{}
	if err := json.NewDecoder(os.Stdin).Decode(&ds.Spec.Template); err != nil {
		fmt.Fprintln(os.Stderr, "decode template:", err)
		os.Exit(1)
	}
	// daemon.Match is what the e2e suite compares revisions with; a
	// revision holding the data printed here matches ds.
	rev := &appsv1.ControllerRevision{}
	for _, data := range candidates(ds) {
		rev.Data.Raw = data
		if ok, err := daemon.Match(ds, rev); err == nil && ok {
			os.Stdout.Write(data)
			return
		}
	}
	fmt.Fprintln(os.Stderr, "no candidate matches daemon.Match")
	os.Exit(1)
}

// candidates encodes the template the way the v1.32 controller does.
func candidates(ds *appsv1.DaemonSet) [][]byte {
	b, _ := json.Marshal(ds)
	var obj map[string]any
	_ = json.Unmarshal(b, &obj)
	tmpl := obj["spec"].(map[string]any)["template"].(map[string]any)
	tmpl["$patch"] = "replace"
	out, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
	return [][]byte{out}
}
