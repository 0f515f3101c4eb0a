// Package nftutil holds what the node's nftables programmers (the Service
// proxy, pkg/proxy, and NetworkPolicy enforcement, pkg/netpol) share:
// expression building blocks that produce the same bytecode `nft` does for
// common rule text, a transaction that orders its operations so the kernel
// accepts them whatever order a sync found them in, and the small steps
// of reaching a network namespace's nftables (opening the namespace,
// asking whether a table exists, numbering new sets).
//
// What each table holds, and how each package sends its batches, stays in
// that package.
package nftutil
