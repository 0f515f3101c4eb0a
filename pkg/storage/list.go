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
	// Revision -1 continues at the latest revision (the token offered when
	// the original one was compacted away).
	if err := json.Unmarshal(data, &t); err != nil || t.Version != "meta.k8s.io/v1" || (t.Revision <= 0 && t.Revision != latestRevision) {
		return 0, "", &Error{Code: CodeInvalidContinue, Msg: "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"}
	}
	// The start key is relative, so a token cannot reach outside the prefix.
	if strings.Contains(t.Start, "..") || strings.HasPrefix(t.Start, "/") {
		return 0, "", &Error{Code: CodeInvalidContinue, Msg: "continue key is not valid: path traversal"}
	}
	if t.Revision == latestRevision {
		return 0, prefix + t.Start, nil
	}
	return t.Revision, prefix + t.Start, nil
}

const expiredContinueMsg = "The provided continue parameter is too old to display a consistent list result. " +
	"You can start a new list without the continue parameter, or use the continue token in this response to " +
	"retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - " +
	"objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list."

// latestRevision in a continue token means "whatever is current".
const latestRevision = -1

// List reads the objects under prefix. With a Limit it returns one page
// and a continue token; all pages of one list are read at the same revision
// so together they form a consistent snapshot.
func (s *Store) List(ctx context.Context, prefix string, opts ListOptions) (*ListResult, error) {
	res := &ListResult{}
	page, err := s.scan(ctx, prefix, opts, func(value []byte, rev int64) (bool, error) {
		obj, err := s.Decode(value, rev)
		if err != nil {
			return false, err
		}
		if opts.Filter != nil && !opts.Filter(obj) {
			return false, nil
		}
		res.Items = append(res.Items, obj)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	res.Revision, res.Continue, res.Remaining = page.Revision, page.Continue, page.Remaining
	return res, nil
}

// RawListResult is one page of a list in the wire form of the stored
// type: each item is the protobuf message of one object, resourceVersion
// included, ready to be framed into a protobuf list without decoding.
type RawListResult struct {
	Items    [][]byte
	Revision int64
	Continue string
	// Remaining estimates how many items follow.
	Remaining int64
}

// ListRaw is List without decoding, for unfiltered protobuf responses:
// the items are the stored messages with their revision spliced in.
// opts.Filter must be nil.
func (s *Store) ListRaw(ctx context.Context, prefix string, opts ListOptions) (*RawListResult, error) {
	if opts.Filter != nil {
		return nil, errors.New("ListRaw cannot filter")
	}
	res := &RawListResult{}
	page, err := s.scan(ctx, prefix, opts, func(value []byte, rev int64) (bool, error) {
		item, err := rawItem(value, rev)
		if err != nil {
			return false, fmt.Errorf("stored %s: %w", s.gvk.Kind, err)
		}
		res.Items = append(res.Items, item)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	res.Revision, res.Continue, res.Remaining = page.Revision, page.Continue, page.Remaining
	return res, nil
}

// pageInfo is what a scan learned about the page it read.
type pageInfo struct {
	Revision  int64
	Continue  string
	Remaining int64
}

// scan walks the keys under prefix at one revision, handing each value to
// take, which reports whether it kept the item; it stops at opts.Limit
// kept items and then describes where the next page starts.
func (s *Store) scan(ctx context.Context, prefix string, opts ListOptions, take func(value []byte, rev int64) (bool, error)) (pageInfo, error) {
	start, end := prefix, clientv3.GetPrefixRangeEnd(prefix)
	rev := opts.Revision
	if opts.Continue != "" {
		crev, ckey, err := decodeContinue(opts.Continue, prefix)
		if err != nil {
			return pageInfo{}, err
		}
		rev, start = crev, ckey
	}
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
	var kept int64
	for {
		ops := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(chunk)}
		if rev > 0 {
			ops = append(ops, clientv3.WithRev(rev))
		}
		resp, err := s.client.Get(ctx, start, ops...)
		if err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				if opts.Continue != "" {
					return pageInfo{}, &Error{Code: CodeExpired, Key: prefix, Msg: expiredContinueMsg,
						Continue: encodeContinue(latestRevision, start, prefix)}
				}
				return pageInfo{}, &Error{Code: CodeExpired, Key: prefix, Msg: fmt.Sprintf("too old resource version: %d", rev)}
			}
			return pageInfo{}, unavailable(prefix, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for i, kv := range resp.Kvs {
			plain, _, err := s.fromStorage(ctx, kv.Key, kv.Value)
			if err != nil {
				return pageInfo{}, err
			}
			ok, err := take(plain, kv.ModRevision)
			if err != nil {
				return pageInfo{}, err
			}
			if !ok {
				continue
			}
			kept++
			if opts.Limit > 0 && kept == opts.Limit {
				page := pageInfo{Revision: rev}
				last := i == len(resp.Kvs)-1
				if !last || resp.More {
					page.Continue = encodeContinue(rev, string(kv.Key)+"\x00", prefix)
					if opts.Filter == nil {
						page.Remaining = resp.Count - int64(i) - 1
					}
				}
				return page, nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	return pageInfo{Revision: rev}, nil
}

// Count returns how many keys are under prefix.
func (s *Store) Count(ctx context.Context, prefix string) (int64, error) {
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, unavailable(prefix, err)
	}
	return resp.Count, nil
}
