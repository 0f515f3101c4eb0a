package podworker

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// leaseGrace is how old a lease must be before it can be an orphan: the
// runtime adds a sandbox to its list only after the network plugin took
// the sandbox's address.
const leaseGrace = time.Minute

// lease is one address the CNI host-local plugin handed out: a file named
// by the address holding the sandbox ID and interface name, in a
// directory per network.
type lease struct {
	path, ip, sandbox string
	written           time.Time
}

// readLeases lists the leases of every network under dir ("" none).
func readLeases(dir string) ([]lease, error) {
	if dir == "" {
		return nil, nil
	}
	nets, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []lease
	for _, n := range nets {
		if !n.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, n.Name()))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if _, err := netip.ParseAddr(f.Name()); err != nil || !f.Type().IsRegular() {
				continue // the plugin's lock and last_reserved_ip files
			}
			p := filepath.Join(dir, n.Name(), f.Name())
			fi, err := f.Info()
			if err != nil {
				continue
			}
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			id, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
			out = append(out, lease{path: p, ip: f.Name(), sandbox: strings.TrimSpace(id), written: fi.ModTime()})
		}
	}
	return out, nil
}

// release removes the lease, so the address can be handed out again.
func (l lease) release() error {
	if err := os.Remove(l.path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove lease %s: %w", l.path, err)
	}
	return nil
}
