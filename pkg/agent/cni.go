package agent

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
)

// writeCNIConfig writes the pod network: the bridge named bridge with
// host-local addresses from podCIDR, and portmap for hostPorts when
// iptables exists.
// containerd adds the loopback interface itself. mtu is the pods'
// interfaces' (0: the plugin's default). The address leases live under
// dir's parent, with the agent's other state, rather than in the
// machine-wide /var/lib/cni: agents of test clusters sharing a machine
// never see each other's (or a deleted cluster's) leases.
func writeCNIConfig(dir, bridge string, podCIDR netip.Prefix, mtu int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gw := podCIDR.Masked().Addr().Next()
	plugin := map[string]any{
		"type":        "bridge",
		"bridge":      bridge,
		"isGateway":   true,
		"hairpinMode": true,
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  [][]map[string]string{{{"subnet": podCIDR.Masked().String(), "gateway": gw.String()}}},
			"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
			"dataDir": filepath.Join(filepath.Dir(dir), "networks"),
		},
	}
	if mtu > 0 {
		plugin["mtu"] = mtu
	}
	plugins := []map[string]any{plugin}
	if _, err := exec.LookPath("iptables"); err == nil {
		plugins = append(plugins, map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}})
	}
	conf := map[string]any{"cniVersion": "1.0.0", "name": "flotilla", "plugins": plugins}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "10-flotilla.conflist")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
