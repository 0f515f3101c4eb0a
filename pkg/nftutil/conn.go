package nftutil

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/google/nftables"
)

// OpenNetNS opens the network namespace file path (such as
// /run/netns/NAME or /proc/PID/ns/net) for nftables.WithNetNSFd and
// netlink.Config.NetNS; empty path: fd 0, the caller's namespace. The fd
// is valid until closeFn is called.
func OpenNetNS(path string) (fd int, closeFn func(), err error) {
	if path == "" {
		return 0, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, fmt.Errorf("open network namespace: %w", err)
	}
	return int(f.Fd()), func() { _ = f.Close() }, nil
}

// TableExists asks the kernel whether table is there.
func TableExists(c *nftables.Conn, table *nftables.Table) (bool, error) {
	if _, err := c.ListTableOfFamily(table.Name, table.Family); err != nil {
		if errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "no such file") {
			return false, nil
		}
		return false, fmt.Errorf("look up table %s %s: %w", familyName(table.Family), table.Name, err)
	}
	return true, nil
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyINet:
		return "inet"
	}
	return fmt.Sprintf("family %d", f)
}

// setIDs numbers the sets batches create, process-wide, so that two
// programmers in one process (the agent's proxy and policy enforcement,
// tests) never share a counter unsynchronised, and the library never
// falls back to its own.
var setIDs atomic.Uint32

// NextSetID is a new set's ID, unique within the process.
func NextSetID() uint32 { return setIDs.Add(1) }
