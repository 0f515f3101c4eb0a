package nettest

import (
	"os"
	"os/exec"
	"testing"
)

// NewTestNode is NewNode(pods, true) for test t, deleted when t ends. It
// fails t (never skips) where namespaces cannot be built: not root, or no
// ip command. A missing br_netfilter fails in NewNode.
func NewTestNode(t testing.TB, pods int) *Node {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test programs nftables in network namespaces it creates: run it as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("this test needs the ip command (iproute2) to build network namespaces")
	}
	node, err := NewNode(pods, true)
	if err != nil {
		t.Fatalf("build node namespaces: %v", err)
	}
	t.Cleanup(func() {
		if err := node.Delete(); err != nil {
			t.Errorf("delete namespaces: %v", err)
		}
	})
	return node
}
