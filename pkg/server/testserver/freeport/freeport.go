// Package freeport hands out loopback ports for servers that tests and
// benchmarks start and that bind their ports only later (an API server,
// embedded etcd's client and peer listeners).
package freeport

import (
	"fmt"
	"net"
	"os"
	"sync/atomic"
)

// The ports come from 20000-29999: below the kernel's ephemeral range
// (32768-60999), where a port that was free when probed can be lent to
// any outgoing connection before its server binds it (make test at
// 8083b16: a node cluster's etcd failed with "bind: address already in
// use"), and below the NodePort range.
const first, span = 20000, 10000

// turn is handed out in order from an offset of this process's own, so
// callers side by side in one process never draw the same port and
// another process rarely does.
var turn = func() *atomic.Int32 {
	var n atomic.Int32
	n.Store(int32(os.Getpid() * 997 % span))
	return &n
}()

// Loopback is a port on 127.0.0.1 that nothing listened on a moment ago.
func Loopback() int {
	for range span {
		p := first + int(turn.Add(1))%span
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue // taken: the next one
		}
		ln.Close()
		return p
	}
	panic(fmt.Sprintf("freeport: every port of %d-%d is taken", first, first+span-1))
}
