package integration

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// Unfiltered protobuf lists are framed from the stored bytes; they must
// say exactly what the decoded (JSON) path says, page by page.
func TestProtobufListMatchesJSON(t *testing.T) {
	// No scheduler: its status writes would change pods between the reads.
	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"scheduler"}})
	ctx := context.Background()
	clientFor := func(media string) kubernetes.Interface {
		cfg := srv.RESTConfig()
		cfg.ContentType, cfg.AcceptContentTypes = media, media
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	proto, js := clientFor("application/vnd.kubernetes.protobuf"), clientFor("application/json")
	for i := range 25 {
		p := pod(fmt.Sprintf("p%02d", i), map[string]string{"i": fmt.Sprint(i % 3)})
		if _, err := js.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, limit := range []int64{0, 7} {
		var pl, jl []corev1.Pod
		var pc, jc string
		for {
			p, err := proto.CoreV1().Pods("default").List(ctx, metav1.ListOptions{Limit: limit, Continue: pc})
			if err != nil {
				t.Fatal(err)
			}
			j, err := js.CoreV1().Pods("default").List(ctx, metav1.ListOptions{Limit: limit, Continue: jc})
			if err != nil {
				t.Fatal(err)
			}
			if (p.Continue == "") != (j.Continue == "") || !equality.Semantic.DeepEqual(p.RemainingItemCount, j.RemainingItemCount) {
				t.Fatalf("list meta differs: %+v vs %+v", p.ListMeta, j.ListMeta)
			}
			pl, jl = append(pl, p.Items...), append(jl, j.Items...)
			pc, jc = p.Continue, j.Continue
			if pc == "" {
				break
			}
		}
		if len(pl) != 25 || !equality.Semantic.DeepEqual(pl, jl) {
			t.Fatalf("limit %d: protobuf list (%d items) differs from JSON list (%d items)", limit, len(pl), len(jl))
		}
		for _, it := range pl {
			if it.ResourceVersion == "" || it.UID == "" {
				t.Fatalf("item lacks system metadata: %+v", it.ObjectMeta)
			}
		}
	}
	// Cluster-scoped and all-namespace lists take the same path.
	if ns, err := proto.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err != nil || len(ns.Items) < 4 {
		t.Fatalf("namespaces: %v %v", ns, err)
	}
	if all, err := proto.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); err != nil || len(all.Items) != 25 {
		t.Fatalf("all pods: %v", err)
	}
}
