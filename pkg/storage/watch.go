package storage

import (
	"context"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Event is one change seen by a watch. Bookmarks carry only a revision;
// an Expired event ends the watch because its start was compacted away.
type Event struct {
	Type     watch.EventType
	Object   runtime.Object
	Revision int64
	Expired  bool
}

// WatchOptions configures a watch.
type WatchOptions struct {
	// Revision: events after this revision are delivered. With
	// InitialState the objects existing at Revision (0 = now) come first
	// as ADDED events.
	Revision     int64
	InitialState bool
	// Filter restricts events to matching objects. An object that stops
	// matching is reported DELETED and one that starts matching ADDED, so a
	// filtered watch stays consistent with a filtered list.
	Filter func(runtime.Object) bool
	// Progress asks for bookmark events whenever etcd reports progress.
	Progress bool
}

// Watch streams changes under prefix until ctx ends. The channel closes
// when the watch ends.
func (s *Store) Watch(ctx context.Context, prefix string, opts WatchOptions) <-chan Event {
	out := make(chan Event, 100)
	go func() {
		defer close(out)
		s.watch(ctx, prefix, opts, out)
	}()
	return out
}

func (s *Store) watch(ctx context.Context, prefix string, opts WatchOptions, out chan<- Event) {
	send := func(ev Event) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	rev := opts.Revision
	if opts.InitialState {
		res, err := s.List(ctx, prefix, ListOptions{Revision: rev, Filter: opts.Filter})
		if err != nil {
			if CodeOf(err) == CodeExpired {
				send(Event{Expired: true, Revision: rev})
			}
			return
		}
		for _, obj := range res.Items {
			if !send(Event{Type: watch.Added, Object: obj, Revision: res.Revision}) {
				return
			}
		}
		rev = res.Revision
		if opts.Progress && !send(Event{Type: watch.Bookmark, Revision: rev}) {
			return
		}
	} else if rev == 0 {
		r, err := s.Revision(ctx)
		if err != nil {
			return
		}
		rev = r
	}
	wopts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithRev(rev + 1), clientv3.WithPrevKV()}
	if opts.Progress {
		wopts = append(wopts, clientv3.WithProgressNotify())
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range s.client.Watch(wctx, prefix, wopts...) {
		if resp.CompactRevision != 0 {
			send(Event{Expired: true, Revision: rev})
			return
		}
		if err := resp.Err(); err != nil {
			return
		}
		if resp.IsProgressNotify() {
			if opts.Progress && !send(Event{Type: watch.Bookmark, Revision: resp.Header.Revision}) {
				return
			}
			continue
		}
		for _, e := range resp.Events {
			ev, ok, err := s.translate(ctx, e, opts.Filter)
			if err != nil {
				return
			}
			if ok && !send(ev) {
				return
			}
		}
	}
}

// translate turns an etcd event into an API watch event, applying the
// filter to both the old and the new state.
func (s *Store) translate(ctx context.Context, e *clientv3.Event, filter func(runtime.Object) bool) (Event, bool, error) {
	rev := e.Kv.ModRevision
	var cur, prev runtime.Object
	if e.Type == clientv3.EventTypePut {
		plain, _, err := s.fromStorage(ctx, e.Kv.Key, e.Kv.Value)
		if err != nil {
			return Event{}, false, err
		}
		if cur, err = s.Decode(plain, rev); err != nil {
			return Event{}, false, err
		}
	}
	if e.PrevKv != nil {
		plain, _, err := s.fromStorage(ctx, e.PrevKv.Key, e.PrevKv.Value)
		if err != nil {
			return Event{}, false, err
		}
		if prev, err = s.Decode(plain, e.PrevKv.ModRevision); err != nil {
			return Event{}, false, err
		}
	}
	curOK := cur != nil && (filter == nil || filter(cur))
	prevOK := prev != nil && (filter == nil || filter(prev))
	switch {
	case e.Type == clientv3.EventTypeDelete:
		if !prevOK {
			return Event{}, false, nil
		}
		// A deleted object is reported in its last state at the deletion revision.
		if err := setRV(prev, rev); err != nil {
			return Event{}, false, err
		}
		return Event{Type: watch.Deleted, Object: prev, Revision: rev}, true, nil
	case curOK && prevOK:
		return Event{Type: watch.Modified, Object: cur, Revision: rev}, true, nil
	case curOK:
		return Event{Type: watch.Added, Object: cur, Revision: rev}, true, nil
	case prevOK:
		// Left the filter: clients see it go away, in its new state.
		return Event{Type: watch.Deleted, Object: cur, Revision: rev}, true, nil
	}
	return Event{}, false, nil
}

// ParseRevision parses a resourceVersion string ("" = 0).
func ParseRevision(rv string) (int64, error) {
	if rv == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid resource version %q", rv)
	}
	return n, nil
}
