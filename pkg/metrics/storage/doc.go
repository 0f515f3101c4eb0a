// Package storage keeps, in memory only, the last two samples of every
// node and container that the collector scraped, and computes usage from
// them as metrics-server does: CPU is the increase of the cumulative
// counter over the time between the two samples (the window), memory the
// last working set. A node that did not answer in a round is dropped with
// its pods, so it needs two answered rounds before it shows again.
package storage
