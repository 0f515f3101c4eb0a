package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/runtime"
)

// ListOptions selects part of a prefix.
type ListOptions struct {
	// Revision reads at this store revision (0 = the latest).
	Revision int64
	// Limit caps the number of returned items (0 = no cap).
	Limit int64
	// Continue resumes a previous paginated list.
	Continue string
	// Filter keeps only matching objects; nil keeps all.
	Filter func(runtime.Object) bool
}

// ListResult is one page of a list.
type ListResult struct {
	Items    []runtime.Object
	Revision int64
	// Continue is set when more items remain.
	Continue string
	// Remaining estimates how many items follow (only when Filter is nil).
	Remaining int64
}

type continueToken struct {
	Version  string `json:"v"`
	Revision int64  `json:"rv"`
	Start    string `json:"start"`
}

// EncodeContinue builds an opaque token resuming a list at key start.
func encodeContinue(rev int64, startKey, prefix string) string {
	data, _ := json.Marshal(continueToken{Version: "meta.k8s.io/v1", Revision: rev, Start: strings.TrimPrefix(startKey, prefix)})
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeContinue(token, prefix string) (rev int64, startKey string, err error) {
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, "", &Error{Code: CodeInvalidContinue, Msg: fmt.Sprintf("continue key is not valid: %v", err)}
	}
	var t continueToken
	if err := json.Unmarshal(data, &t); err != nil || t.Version != "meta.k8s.io/v1" || t.Revision <= 0 {
		return 0, "", &Error{Code: CodeInvalidContinue, Msg: "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"}
	}
	// The start key is relative, so a token cannot reach outside the prefix.
	if strings.Contains(t.Start, "..") || strings.HasPrefix(t.Start, "/") {
		return 0, "", &Error{Code: CodeInvalidContinue, Msg: "continue key is not valid: path traversal"}
	}
	return t.Revision, prefix + t.Start, nil
}

// List reads the objects under prefix. With a Limit it returns one page
// and a continue token; all pages of one list are read at the same revision
// so together they form a consistent snapshot.
func (s *Store) List(ctx context.Context, prefix string, opts ListOptions) (*ListResult, error) {
	start, end := prefix, clientv3.GetPrefixRangeEnd(prefix)
	rev := opts.Revision
	if opts.Continue != "" {
		crev, ckey, err := decodeContinue(opts.Continue, prefix)
		if err != nil {
			return nil, err
		}
		rev, start = crev, ckey
	}
	res := &ListResult{}
	// Read in chunks so a selective filter with a small limit does not load
	// the whole prefix, and a large unfiltered list does not stream it as
	// one giant response.
	chunk := int64(1000)
	if opts.Limit > 0 && opts.Limit < chunk {
		chunk = opts.Limit
		if opts.Filter != nil {
			chunk = max(opts.Limit*2, 100)
		}
	}
	for {
		ops := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(chunk)}
		if rev > 0 {
			ops = append(ops, clientv3.WithRev(rev))
		}
		resp, err := s.client.Get(ctx, start, ops...)
		if err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				if opts.Continue != "" {
					return nil, &Error{Code: CodeExpired, Key: prefix, Msg: "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."}
				}
				return nil, &Error{Code: CodeExpired, Key: prefix, Msg: fmt.Sprintf("too old resource version: %d", rev)}
			}
			return nil, unavailable(prefix, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for i, kv := range resp.Kvs {
			obj, err := s.Decode(kv.Value, kv.ModRevision)
			if err != nil {
				return nil, err
			}
			if opts.Filter != nil && !opts.Filter(obj) {
				continue
			}
			res.Items = append(res.Items, obj)
			if opts.Limit > 0 && int64(len(res.Items)) == opts.Limit {
				last := i == len(resp.Kvs)-1
				if !last || resp.More {
					res.Continue = encodeContinue(rev, string(kv.Key)+"\x00", prefix)
					if opts.Filter == nil {
						res.Remaining = resp.Count - int64(i) - 1
					}
				}
				res.Revision = rev
				return res, nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	res.Revision = rev
	return res, nil
}

// Count returns how many keys are under prefix.
func (s *Store) Count(ctx context.Context, prefix string) (int64, error) {
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, unavailable(prefix, err)
	}
	return resp.Count, nil
}
