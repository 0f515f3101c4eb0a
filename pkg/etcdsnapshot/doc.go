// Package etcdsnapshot backs up and restores the cluster's etcd as k3s's
// etcd-snapshot does: snapshots are files in one directory
// (DATA-DIR/db/snapshots by default), taken through etcd's maintenance
// Snapshot API of a running member (embedded or external), listed and
// pruned by name and age, taken on a cron schedule by the server, and
// restored into a fresh data directory for the embedded member.
package etcdsnapshot
