package storage

import (
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// etcd's NOSPACE refusal, as the client library or the in-process server
// returns it, is classified apart from an unreachable etcd.
func TestUnavailableClassifiesNoSpace(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Code
	}{
		{rpctypes.ErrNoSpace, CodeNoSpace},
		{rpctypes.ErrGRPCNoSpace, CodeNoSpace},
		{fmt.Errorf("put: %w", rpctypes.ErrNoSpace), CodeNoSpace},
		{rpctypes.ErrCompacted, CodeExpired},
		{rpctypes.ErrTimeout, CodeUnavailable},
	} {
		if got := CodeOf(unavailable("/k", tc.err)); got != tc.want {
			t.Errorf("%v: code %d, want %d", tc.err, got, tc.want)
		}
	}
}
