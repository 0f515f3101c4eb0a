package freeport

import (
	"fmt"
	"net"
	"testing"
)

// TestLoopbackPortsAreDistinctAndBindable: ports come from the range,
// never twice in a row of draws, and each can be bound.
func TestLoopbackPortsAreDistinctAndBindable(t *testing.T) {
	seen := map[int]bool{}
	for range 50 {
		p := Loopback()
		if p < first || p >= first+span {
			t.Fatalf("port %d outside %d-%d", p, first, first+span-1)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d cannot be bound: %v", p, err)
		}
		ln.Close()
	}
}
