package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/storage/value"
)

// Store reads and writes the objects of one resource under one key prefix.
type Store struct {
	client *clientv3.Client
	codec  runtime.Codec
	prefix string // ends in "/"
	gvk    schema.GroupVersionKind
	newFn  func() runtime.Object
	// transformer turns the encoded object into the stored value and
	// back (encryption at rest); nil stores the encoding as it is.
	transformer value.Transformer
	// ttl > 0: every write carries a lease from leases, so the object
	// expires ttl after its last write (Events, --event-ttl).
	ttl    time.Duration
	leases *leaseManager
}

// SetTTL makes every object written from now on expire ttl after its
// last write, through an etcd lease (shared with other writes of the
// same few seconds), as upstream keeps Events.
func (s *Store) SetTTL(ttl time.Duration) {
	s.ttl = ttl
	if s.leases == nil {
		s.leases = newLeaseManager(s.client)
	}
}

// putOptions are the options of a put at key: the lease of a store with
// a TTL.
func (s *Store) putOptions(ctx context.Context, key string) ([]clientv3.OpOption, error) {
	if s.ttl <= 0 {
		return nil, nil
	}
	id, err := s.leases.lease(ctx, s.ttl)
	if err != nil {
		return nil, fmt.Errorf("lease for %s: %w", key, err)
	}
	return []clientv3.OpOption{clientv3.WithLease(id)}, nil
}

// SetTransformer makes the store pass every value it writes through t
// and every value it reads back (t must read what it wrote before, e.g.
// an identity fallback for values stored before encryption).
func (s *Store) SetTransformer(t value.Transformer) { s.transformer = t }

// toStorage encodes obj and transforms it into the value kept at key.
func (s *Store) toStorage(ctx context.Context, key string, obj runtime.Object) (plain, stored []byte, err error) {
	if plain, err = s.encode(obj); err != nil {
		return nil, nil, err
	}
	if s.transformer == nil {
		return plain, plain, nil
	}
	if stored, err = s.transformer.TransformToStorage(ctx, plain, value.DefaultContext(key)); err != nil {
		return nil, nil, fmt.Errorf("transform %s for storage: %w", s.gvk.Kind, err)
	}
	return plain, stored, nil
}

// fromStorage undoes the transformer on a value read at key; stale says
// the value was not written by the transformer's current write form (an
// old key, or plaintext), so rewriting it is worthwhile.
func (s *Store) fromStorage(ctx context.Context, key []byte, stored []byte) (plain []byte, stale bool, err error) {
	if s.transformer == nil {
		return stored, false, nil
	}
	plain, stale, err = s.transformer.TransformFromStorage(ctx, stored, value.DefaultContext(key))
	if err != nil {
		// The error names no value, only where it is.
		return nil, false, fmt.Errorf("read stored %s at %s: %w", s.gvk.Kind, key, err)
	}
	return plain, stale, nil
}

// New returns a store for objects of kind gvk kept under prefix. codec
// encodes the stored form (protobuf in production).
func New(client *clientv3.Client, codec runtime.Codec, prefix string, gvk schema.GroupVersionKind, newFn func() runtime.Object) *Store {
	if prefix[len(prefix)-1] != '/' {
		prefix += "/"
	}
	return &Store{client: client, codec: codec, prefix: prefix, gvk: gvk, newFn: newFn}
}

// Key returns the etcd key of an object. Cluster-scoped objects pass ns "".
func (s *Store) Key(ns, name string) string {
	if ns == "" {
		return s.prefix + name
	}
	return s.prefix + ns + "/" + name
}

// Prefix returns the key prefix covering a namespace ("" = every object).
func (s *Store) Prefix(ns string) string {
	if ns == "" {
		return s.prefix
	}
	return s.prefix + ns + "/"
}

// GVK is the kind stored here.
func (s *Store) GVK() schema.GroupVersionKind { return s.gvk }

// New returns an empty object of the stored kind.
func (s *Store) New() runtime.Object { return s.newFn() }

func (s *Store) encode(obj runtime.Object) ([]byte, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	// The revision is the resourceVersion; storing it too would only go stale.
	rv := acc.GetResourceVersion()
	acc.SetResourceVersion("")
	obj.GetObjectKind().SetGroupVersionKind(s.gvk)
	var buf bytes.Buffer
	err = s.codec.Encode(obj, &buf)
	acc.SetResourceVersion(rv)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", s.gvk.Kind, err)
	}
	return buf.Bytes(), nil
}

// Decode turns a stored value into an object carrying revision rev.
func (s *Store) Decode(data []byte, rev int64) (runtime.Object, error) {
	obj := s.newFn()
	out, _, err := s.codec.Decode(data, nil, obj)
	if err != nil {
		return nil, fmt.Errorf("decode stored %s: %w", s.gvk.Kind, err)
	}
	out.GetObjectKind().SetGroupVersionKind(s.gvk)
	acc, err := meta.Accessor(out)
	if err != nil {
		return nil, err
	}
	acc.SetResourceVersion(strconv.FormatInt(rev, 10))
	return out, nil
}

// Create stores obj under key unless the key exists. It returns the stored
// object with its resourceVersion set.
func (s *Store) Create(ctx context.Context, key string, obj runtime.Object) (runtime.Object, error) {
	_, data, err := s.toStorage(ctx, key, obj)
	if err != nil {
		return nil, err
	}
	opts, err := s.putOptions(ctx, key)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(data), opts...)).
		Commit()
	if err != nil {
		return nil, unavailable(key, err)
	}
	if !resp.Succeeded {
		return nil, &Error{Code: CodeExists, Key: key}
	}
	if err := setRV(obj, resp.Header.Revision); err != nil {
		return nil, err
	}
	return obj, nil
}

// Get reads the object at key.
func (s *Store) Get(ctx context.Context, key string) (runtime.Object, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, unavailable(key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, &Error{Code: CodeNotFound, Key: key}
	}
	kv := resp.Kvs[0]
	plain, _, err := s.fromStorage(ctx, kv.Key, kv.Value)
	if err != nil {
		return nil, err
	}
	return s.Decode(plain, kv.ModRevision)
}

// UpdateFunc computes the new state from the current one. Returning
// (nil, nil) deletes the object; returning an error aborts.
type UpdateFunc func(current runtime.Object) (runtime.Object, error)

// Update applies fn to the current object and writes the result if the
// object did not change meanwhile, retrying fn on a lost race. When fn
// returns an object identical to the current one, nothing is written and
// the resourceVersion stays the same, as upstream does.
func (s *Store) Update(ctx context.Context, key string, fn UpdateFunc) (obj runtime.Object, deleted bool, err error) {
	for attempt := 0; ; attempt++ {
		resp, err := s.client.Get(ctx, key)
		if err != nil {
			return nil, false, unavailable(key, err)
		}
		if len(resp.Kvs) == 0 {
			return nil, false, &Error{Code: CodeNotFound, Key: key}
		}
		kv := resp.Kvs[0]
		curPlain, stale, err := s.fromStorage(ctx, kv.Key, kv.Value)
		if err != nil {
			return nil, false, err
		}
		current, err := s.Decode(curPlain, kv.ModRevision)
		if err != nil {
			return nil, false, err
		}
		next, err := fn(current)
		if err != nil {
			return nil, false, err
		}
		var op clientv3.Op
		if next == nil {
			op = clientv3.OpDelete(key)
		} else {
			plain, data, err := s.toStorage(ctx, key, next)
			if err != nil {
				return nil, false, err
			}
			// An unchanged object is not written, unless its stored form
			// is stale (an old encryption key): rewriting is how values
			// move to the current key, as upstream.
			if bytes.Equal(plain, curPlain) && !stale {
				return next, false, setRV(next, kv.ModRevision)
			}
			opts, err := s.putOptions(ctx, key)
			if err != nil {
				return nil, false, err
			}
			op = clientv3.OpPut(key, string(data), opts...)
		}
		tresp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(op).
			Commit()
		if err != nil {
			return nil, false, unavailable(key, err)
		}
		if !tresp.Succeeded {
			continue // someone else wrote first; recompute from their state
		}
		if next == nil {
			return current, true, nil
		}
		return next, false, setRV(next, tresp.Header.Revision)
	}
}

// Delete removes the object at key if check accepts its current state.
func (s *Store) Delete(ctx context.Context, key string, check func(current runtime.Object) error) (runtime.Object, error) {
	obj, _, err := s.Update(ctx, key, func(cur runtime.Object) (runtime.Object, error) {
		if check != nil {
			if err := check(cur); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	return obj, err
}

// Revision returns the store's current revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	resp, err := s.client.Get(ctx, "/flotilla-revision-probe", clientv3.WithCountOnly())
	if err != nil {
		return 0, unavailable("", err)
	}
	return resp.Header.Revision, nil
}

func setRV(obj runtime.Object, rev int64) error {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	acc.SetResourceVersion(strconv.FormatInt(rev, 10))
	return nil
}

func unavailable(key string, err error) error {
	if errors.Is(err, rpctypes.ErrCompacted) {
		return &Error{Code: CodeExpired, Key: key, Err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, rpctypes.ErrNoSpace) || errors.Is(err, rpctypes.ErrGRPCNoSpace) {
		return &Error{Code: CodeNoSpace, Key: key, Err: err}
	}
	return &Error{Code: CodeUnavailable, Key: key, Err: err}
}

// Rewrite writes every object again whose stored value is stale (in an
// old encryption key, or plaintext when a key is configured); fresh
// values are left alone. It returns how many objects it visited.
func (s *Store) Rewrite(ctx context.Context) (int, error) {
	resp, err := s.client.Get(ctx, s.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return 0, unavailable(s.prefix, err)
	}
	for _, kv := range resp.Kvs {
		_, _, err := s.Update(ctx, string(kv.Key), func(cur runtime.Object) (runtime.Object, error) { return cur, nil })
		if err != nil && !IsNotFound(err) {
			return 0, err
		}
	}
	return len(resp.Kvs), nil
}

// Values returns every stored value as etcd holds it (encrypted or not),
// for status reports.
func (s *Store) Values(ctx context.Context) ([][]byte, error) {
	resp, err := s.client.Get(ctx, s.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, unavailable(s.prefix, err)
	}
	out := make([][]byte, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		out[i] = kv.Value
	}
	return out, nil
}
