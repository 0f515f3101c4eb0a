// Package storage keeps API objects in etcd v3, one key per object.
//
// An object's resourceVersion is the etcd revision that last modified its
// key and a list's resourceVersion is the store revision it was read at, so
// optimistic concurrency, consistent pagination and resumable watches all
// come from etcd itself. Objects are stored in the Kubernetes protobuf
// encoding.
package storage
