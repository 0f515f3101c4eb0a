package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The cluster runs in network namespaces of this run's own, one per node,
// so it neither meets nor disturbs anything else on the machine: each
// node agent programs its namespace's nftables (Service proxy,
// NetworkPolicy), binds its DNS server on its own pod bridge, and pods
// get addresses from a range (podCIDR) no other cluster here uses. The
// nodes' veths hang on a bridge of this machine (hostIP, where the suite
// runs), so they share one link, as machines on a LAN; the machine routes
// the pod range through the first node, whose agent routes onwards to
// the second's pods (VXLAN).
const (
	bridgeLink = "flctbr0"
	hostIP     = "10.250.0.254"
	linkPrefix = "/24"
	podCIDR    = "10.52.0.0/16"
)

// node is one node's namespace and its link to the bridge.
type node struct {
	netns, hostEnd, nodeEnd, ip string
}

var nodes = []node{
	{netns: "flct-node1", hostEnd: "flct0", nodeEnd: "flct1", ip: "10.250.0.1"},
	{netns: "flct-node2", hostEnd: "flct2", nodeEnd: "flct3", ip: "10.250.0.2"},
}

// nodeIP is the first node's address, where the API server listens.
var nodeIP = nodes[0].ip

// node2Name names the second node (the first is the machine's host name).
const node2Name = "flotilla-node2"

// node2Dir is the second node's data directory under the cluster's.
func node2Dir(clusterDir string) string { return filepath.Join(clusterDir, "node2") }

// ensureNetwork creates the bridge, the nodes' namespaces and their
// links unless they are all there; a partial or older layout is removed
// first.
func ensureNetwork() error {
	if networkComplete() {
		return nil
	}
	for _, l := range []string{bridgeLink, nodes[0].hostEnd, nodes[1].hostEnd} {
		_ = exec.Command("ip", "link", "del", l).Run()
	}
	for _, n := range nodes {
		_ = exec.Command("ip", "netns", "del", n.netns).Run()
	}
	steps := [][]string{
		{"link", "add", bridgeLink, "type", "bridge"},
		{"addr", "replace", hostIP + linkPrefix, "dev", bridgeLink},
		{"link", "set", bridgeLink, "up"},
	}
	for _, n := range nodes {
		steps = append(steps,
			[]string{"netns", "add", n.netns},
			[]string{"link", "add", n.hostEnd, "type", "veth", "peer", "name", n.nodeEnd, "netns", n.netns},
			[]string{"link", "set", n.hostEnd, "master", bridgeLink},
			[]string{"link", "set", n.hostEnd, "up"},
			[]string{"-n", n.netns, "addr", "replace", n.ip + linkPrefix, "dev", n.nodeEnd},
			[]string{"-n", n.netns, "link", "set", n.nodeEnd, "up"},
			[]string{"-n", n.netns, "link", "set", "lo", "up"},
			[]string{"-n", n.netns, "route", "replace", "default", "via", hostIP},
		)
	}
	// The suite reaches pods by address (host-network checks, pod IPs in
	// endpoints) through the first node.
	steps = append(steps, []string{"route", "replace", podCIDR, "via", nodeIP})
	for _, args := range steps {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// networkComplete: the bridge holds hostIP and every node's end is up in
// its namespace with its address.
func networkComplete() bool {
	out, err := exec.Command("ip", "-br", "addr", "show", "dev", bridgeLink).Output()
	if err != nil || !strings.Contains(string(out), hostIP+linkPrefix) {
		return false
	}
	for _, n := range nodes {
		out, err := exec.Command("ip", "-n", n.netns, "-br", "addr", "show", "dev", n.nodeEnd).Output()
		if err != nil || !strings.Contains(string(out), n.ip+linkPrefix) {
			return false
		}
	}
	return true
}

// joinSecondNode starts a node agent in the second namespace, joined to
// the server with its token (its own data directory and containerd, as a
// second machine), and waits until both nodes are Ready: conformance
// needs two schedulable nodes.
func (c *cluster) joinSecondNode(ctx context.Context, o options, apiPort int, log *slog.Logger) error {
	dir := node2Dir(c.dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	logPath := filepath.Join(o.out, "node2.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	n := nodes[1]
	args := []string{"--net=/run/netns/" + n.netns, "--", o.flotilla, "agent",
		"--server", fmt.Sprintf("https://%s:%d", nodeIP, apiPort), "--token-file", filepath.Join(c.dir, "token"),
		"--data-dir", dir, "--node-name", node2Name, "--node-ip", n.ip, "--cluster-cidr", podCIDR,
		"--runtime-handler-alias", "test-handler"}
	cmd := exec.Command("nsenter", args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("start the second node's agent: %w", err)
	}
	c.node2, c.node2Log = cmd, lf
	log.Info("second node's agent started", "pid", cmd.Process.Pid, "node", node2Name, "log", logPath)
	return c.waitNodesReady(ctx, 2, 3*time.Minute)
}
