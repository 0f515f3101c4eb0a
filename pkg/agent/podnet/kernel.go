package podnet

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// kernel is one network namespace's routing tables, neighbour tables and
// links, through a netlink handle opened in it.
type kernel struct {
	h      *netlink.Handle
	nsFile *os.File // the namespace, for nftables; nil: the caller's
}

func openKernel(nsPath string) (*kernel, error) {
	if nsPath == "" {
		h, err := netlink.NewHandle()
		if err != nil {
			return nil, fmt.Errorf("netlink handle: %w", err)
		}
		return &kernel{h: h}, nil
	}
	f, err := os.Open(nsPath)
	if err != nil {
		return nil, fmt.Errorf("open network namespace: %w", err)
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(int(f.Fd())))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("netlink handle in %s: %w", nsPath, err)
	}
	return &kernel{h: h, nsFile: f}, nil
}

func (k *kernel) close() {
	k.h.Close()
	if k.nsFile != nil {
		k.nsFile.Close()
	}
}

// dump runs a netlink listing, again when the kernel reports that the
// table changed while it was being read.
func dump[T any](list func() ([]T, error)) ([]T, error) {
	for i := 0; ; i++ {
		out, err := list()
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < 5 {
			continue
		}
		return out, err
	}
}

// reach tells whether addr is this host's, on one of its directly
// connected subnets (an address of an interface whose prefix holds it),
// or neither. The pod network's own devices do not count.
func (k *kernel) reach(addr netip.Addr) (reach, error) {
	addrs, err := dump(func() ([]netlink.Addr, error) { return k.h.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return 0, fmt.Errorf("list addresses: %w", err)
	}
	names := map[int]string{}
	r := reachRouted
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		if !ok {
			continue
		}
		if ip == addr {
			return reachLocal, nil
		}
		ones, bits := a.Mask.Size()
		if ones == bits || ip.IsLoopback() {
			continue
		}
		if _, seen := names[a.LinkIndex]; !seen {
			if l, err := k.h.LinkByIndex(a.LinkIndex); err == nil {
				names[a.LinkIndex] = l.Attrs().Name
			}
		}
		if n := names[a.LinkIndex]; n == VXLANDevice {
			continue
		}
		if netip.PrefixFrom(ip, ones).Masked().Contains(addr) {
			r = reachConnected
		}
	}
	return r, nil
}

// parentOf finds the interface holding addr, the VXLAN device's
// underlay.
func (k *kernel) parentOf(addr netip.Addr) (netlink.Link, error) {
	addrs, err := dump(func() ([]netlink.Addr, error) { return k.h.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && ip == addr {
			l, err := k.h.LinkByIndex(a.LinkIndex)
			if err != nil {
				return nil, fmt.Errorf("interface of %s: %w", addr, err)
			}
			return l, nil
		}
	}
	return nil, fmt.Errorf("the node address %s is on none of this host's interfaces; the VXLAN device needs it as its local address (set --node-ip)", addr)
}

// vtepMAC is the VXLAN device's MAC address, derived from the node name
// (locally administered, unicast): the same after the device is made
// again, so peers' entries stay right across a reboot.
func vtepMAC(nodeName string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("flotilla-vtep/" + nodeName))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&0xfe | 0x02
	return mac
}

// ensureVXLAN makes the overlay device as flannel's vxlan backend does:
// VNI 1 on UDP 8472 over the interface holding nodeIP, no learning (the
// forwarding entries come from the Nodes), the MTU of the underlay less
// the encapsulation, up, with addr (this node's pod range's network
// address) as its only address inside the cluster range, so that the
// node's own traffic to other nodes' pods has a source their routes
// lead back through the overlay. A device whose settings differ is made
// again.
func (k *kernel) ensureVXLAN(nodeIP netip.Addr, mac net.HardwareAddr, addr netip.Addr, cluster netip.Prefix) (netlink.Link, error) {
	parent, err := k.parentOf(nodeIP)
	if err != nil {
		return nil, err
	}
	mtu := parent.Attrs().MTU - vxlanOverhead
	want := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: VXLANDevice, MTU: mtu, HardwareAddr: mac},
		VxlanId:   VNI, VtepDevIndex: parent.Attrs().Index, SrcAddr: nodeIP.AsSlice(), Port: VXLANPort,
	}
	link, err := k.h.LinkByName(VXLANDevice)
	if err == nil {
		v, ok := link.(*netlink.Vxlan)
		if !ok || v.VxlanId != VNI || v.Port != VXLANPort || v.VtepDevIndex != want.VtepDevIndex || !v.SrcAddr.Equal(want.SrcAddr) || v.Learning {
			if err := k.h.LinkDel(link); err != nil {
				return nil, fmt.Errorf("remove %s (its settings changed): %w", VXLANDevice, err)
			}
			link = nil
		}
	} else if _, missing := err.(netlink.LinkNotFoundError); !missing {
		return nil, fmt.Errorf("look up %s: %w", VXLANDevice, err)
	} else {
		link = nil
	}
	if link == nil {
		if err := k.h.LinkAdd(want); err != nil {
			return nil, fmt.Errorf("create %s: %w", VXLANDevice, err)
		}
		if link, err = k.h.LinkByName(VXLANDevice); err != nil {
			return nil, fmt.Errorf("look up %s: %w", VXLANDevice, err)
		}
	}
	if link.Attrs().HardwareAddr.String() != mac.String() {
		// A MAC cannot change while the device is up.
		if err := k.h.LinkSetDown(link); err != nil {
			return nil, fmt.Errorf("set %s down: %w", VXLANDevice, err)
		}
		if err := k.h.LinkSetHardwareAddr(link, mac); err != nil {
			return nil, fmt.Errorf("set the MAC of %s: %w", VXLANDevice, err)
		}
	}
	if link.Attrs().MTU != mtu {
		if err := k.h.LinkSetMTU(link, mtu); err != nil {
			return nil, fmt.Errorf("set the MTU of %s: %w", VXLANDevice, err)
		}
	}
	if err := k.syncDeviceAddr(link, addr, cluster); err != nil {
		return nil, err
	}
	if err := k.h.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("bring %s up: %w", VXLANDevice, err)
	}
	return link, nil
}

func (k *kernel) syncDeviceAddr(link netlink.Link, addr netip.Addr, cluster netip.Prefix) error {
	have, err := dump(func() ([]netlink.Addr, error) { return k.h.AddrList(link, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("addresses of %s: %w", VXLANDevice, err)
	}
	found := false
	for _, a := range have {
		ip, _ := netip.AddrFromSlice(a.IP.To4())
		if ones, _ := a.Mask.Size(); ip == addr && ones == 32 {
			found = true
			continue
		}
		if cluster.Contains(ip) { // from an earlier pod range of this node
			if err := k.h.AddrDel(link, &a); err != nil {
				return fmt.Errorf("remove the stale address %s of %s: %w", a.IPNet, VXLANDevice, err)
			}
		}
	}
	if found {
		return nil
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(32, 32)}}
	if err := k.h.AddrReplace(link, a); err != nil {
		return fmt.Errorf("address %s on %s: %w", addr, VXLANDevice, err)
	}
	return nil
}

// removeVXLAN deletes the overlay device (with its routes and entries)
// when this node no longer runs one.
func (k *kernel) removeVXLAN() (bool, error) {
	link, err := k.h.LinkByName(VXLANDevice)
	if _, missing := err.(netlink.LinkNotFoundError); missing {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up %s: %w", VXLANDevice, err)
	}
	if err := k.h.LinkDel(link); err != nil {
		return false, fmt.Errorf("remove %s: %w", VXLANDevice, err)
	}
	return true, nil
}

// change is one thing a sync did to the kernel, for the log.
type change struct {
	what string // "route", "neighbour", "fdb"
	op   string // "add", "replace", "remove"
	key  string
	to   string
}

// syncRoutes makes this package's routes (RouteProtocol, main table)
// exactly want: those of nodes gone or moved are removed, missing ones
// added. vxlanIndex is the overlay device (0 when there is none).
func (k *kernel) syncRoutes(want map[netip.Prefix]route, vxlanIndex int) ([]change, error) {
	have, err := dump(func() ([]netlink.Route, error) {
		return k.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	var changes []change
	var errs []error
	done := map[netip.Prefix]bool{}
	for _, r := range have {
		if r.Dst == nil {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		dstIP, _ := netip.AddrFromSlice(r.Dst.IP.To4())
		dst := netip.PrefixFrom(dstIP, ones)
		gw, _ := netip.AddrFromSlice(r.Gw.To4())
		w, wanted := want[dst]
		if wanted && !done[dst] && w.gw == gw && w.overlay == (vxlanIndex != 0 && r.LinkIndex == vxlanIndex) {
			done[dst] = true
			continue
		}
		if err := k.h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("remove route %s via %s: %w", dst, gw, err))
			continue
		}
		if !wanted {
			changes = append(changes, change{what: "route", op: "remove", key: dst.String(), to: gw.String()})
		}
	}
	for dst, w := range want {
		if done[dst] {
			continue
		}
		r := &netlink.Route{
			Dst:      &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 32)},
			Gw:       w.gw.AsSlice(),
			Protocol: RouteProtocol,
			Table:    unix.RT_TABLE_MAIN,
		}
		how := "direct"
		if w.overlay {
			if vxlanIndex == 0 {
				errs = append(errs, fmt.Errorf("route %s: no %s device", dst, VXLANDevice))
				continue
			}
			r.LinkIndex, r.Flags = vxlanIndex, int(netlink.FLAG_ONLINK)
			how = "vxlan"
		}
		if err := k.h.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("route %s via %s (%s): %w", dst, w.gw, how, err))
			continue
		}
		changes = append(changes, change{what: "route", op: "add", key: dst.String(), to: w.gw.String() + " (" + how + ")"})
	}
	return changes, errors.Join(errs...)
}

// syncNeighbours makes the overlay device's IPv4 neighbour entries
// exactly want (next hop -> VTEP MAC), all permanent: no ARP crosses the
// overlay.
func (k *kernel) syncNeighbours(link netlink.Link, want map[netip.Addr]string) ([]change, error) {
	idx := link.Attrs().Index
	have, err := dump(func() ([]netlink.Neigh, error) { return k.h.NeighList(idx, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("list neighbours of %s: %w", VXLANDevice, err)
	}
	var changes []change
	var errs []error
	done := map[netip.Addr]bool{}
	for _, n := range have {
		ip, ok := netip.AddrFromSlice(n.IP.To4())
		if !ok || n.LinkIndex != idx { // dumps are not filtered by every kernel
			continue
		}
		if mac, wanted := want[ip]; wanted && mac == n.HardwareAddr.String() && n.State&netlink.NUD_PERMANENT != 0 {
			done[ip] = true
			continue
		}
		if _, wanted := want[ip]; wanted {
			continue // replaced below
		}
		if err := k.h.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("remove neighbour %s on %s: %w", ip, VXLANDevice, err))
			continue
		}
		changes = append(changes, change{what: "neighbour", op: "remove", key: ip.String()})
	}
	for ip, mac := range want {
		if done[ip] {
			continue
		}
		hw, _ := net.ParseMAC(mac)
		n := &netlink.Neigh{LinkIndex: idx, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT, Type: unix.RTN_UNICAST, IP: ip.AsSlice(), HardwareAddr: hw}
		if err := k.h.NeighSet(n); err != nil {
			errs = append(errs, fmt.Errorf("neighbour %s lladdr %s on %s: %w", ip, mac, VXLANDevice, err))
			continue
		}
		changes = append(changes, change{what: "neighbour", op: "add", key: ip.String(), to: mac})
	}
	return changes, errors.Join(errs...)
}

// syncFDB makes the overlay device's forwarding entries exactly want
// (VTEP MAC -> the peer's node address the frames are sent to).
func (k *kernel) syncFDB(link netlink.Link, want map[string]netip.Addr) ([]change, error) {
	idx := link.Attrs().Index
	have, err := dump(func() ([]netlink.Neigh, error) { return k.h.NeighList(idx, unix.AF_BRIDGE) })
	if err != nil {
		return nil, fmt.Errorf("list forwarding entries of %s: %w", VXLANDevice, err)
	}
	var changes []change
	var errs []error
	done := map[string]bool{}
	for _, n := range have {
		if n.LinkIndex != idx || n.Flags&netlink.NTF_SELF == 0 {
			continue // another device's, or the bridge layer's own entry
		}
		mac := n.HardwareAddr.String()
		dst, _ := netip.AddrFromSlice(n.IP.To4())
		if w, wanted := want[mac]; wanted && w == dst && !done[mac] {
			done[mac] = true
			continue
		}
		if err := k.h.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("remove forwarding entry %s dst %s on %s: %w", mac, dst, VXLANDevice, err))
			continue
		}
		if _, wanted := want[mac]; !wanted {
			changes = append(changes, change{what: "fdb", op: "remove", key: mac, to: dst.String()})
		}
	}
	for mac, dst := range want {
		if done[mac] {
			continue
		}
		hw, _ := net.ParseMAC(mac)
		n := &netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, State: netlink.NUD_PERMANENT, Flags: netlink.NTF_SELF, IP: dst.AsSlice(), HardwareAddr: hw}
		if err := k.h.NeighSet(n); err != nil {
			errs = append(errs, fmt.Errorf("forwarding entry %s dst %s on %s: %w", mac, dst, VXLANDevice, err))
			continue
		}
		changes = append(changes, change{what: "fdb", op: "add", key: mac, to: dst.String()})
	}
	return changes, errors.Join(errs...)
}
