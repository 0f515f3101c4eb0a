package proxy_test

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/proxy/nettest"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// TestUDPAndNodePortsOnEveryAddress: a UDP Service (say DNS) answers
// through its ClusterIP and refuses (ICMP port unreachable) without
// endpoints; with no node addresses configured, NodePorts answer on every
// local address of the node.
func TestUDPAndNodePortsOnEveryAddress(t *testing.T) {
	e := newEnv(t, 1)
	e.stopProxy()
	e.anyLocalAddress = true
	e.startProxy()

	pc, err := e.node.Pods[0].ListenPacket("udp4", ":5353")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(append([]byte("pod0 "), buf[:n]...), from)
		}
	}()
	s := e.svc("dns", func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.Ports = []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(5353)}}
	})
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "dns-slice", Namespace: testNS, Labels: map[string]string{
			discoveryv1.LabelServiceName: "dns", discoveryv1.LabelManagedBy: "proxy-test",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("dns"), Port: ptr.To[int32](5353), Protocol: ptr.To(corev1.ProtocolUDP)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{nettest.PodIP(0)}, NodeName: ptr.To(nodeName)}},
	}
	slices := e.cs.DiscoveryV1().EndpointSlices(testNS)
	if _, err := slices.Create(e.ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ask := func(addr string) (string, error) {
		c, err := e.node.Client.Dial("udp4", addr, time.Second)
		if err != nil {
			return "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := c.Write([]byte("ping")); err != nil {
			return "", err
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		return string(buf[:n]), err
	}
	cip := hostPort(s.Spec.ClusterIP, 53)
	testserver.Eventually(t, 20*time.Second, "UDP through the ClusterIP", func() (bool, string) {
		got, err := ask(cip)
		return got == "pod0 ping", fmt.Sprintf("%q %v", got, err)
	})
	for _, ip := range []string{nettest.NodeIP, nettest.Gateway} {
		np := hostPort(ip, s.Spec.Ports[0].NodePort)
		testserver.Eventually(t, 20*time.Second, "UDP NodePort on "+ip, func() (bool, string) {
			got, err := ask(np)
			return got == "pod0 ping", fmt.Sprintf("%q %v", got, err)
		})
	}
	e.notOnLoopback(s)

	// Without endpoints the ClusterIP answers with port unreachable.
	slice.Endpoints = nil
	cur, err := slices.Get(e.ctx, "dns-slice", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	slice.ResourceVersion = cur.ResourceVersion
	if _, err := slices.Update(e.ctx, slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.Eventually(t, 20*time.Second, "UDP ClusterIP without endpoints refuses", func() (bool, string) {
		got, err := ask(cip)
		return errors.Is(err, syscall.ECONNREFUSED), fmt.Sprintf("%q %v", got, err)
	})
}

// notOnLoopback: NodePorts are not served on 127.0.0.1 (upstream's
// nftables mode): from the node itself, the Service's UDP NodePort on
// loopback reaches no one and is refused by the node's own stack.
func (e *env) notOnLoopback(s *corev1.Service) {
	e.t.Helper()
	err := e.node.NS.Do(func() error {
		c, err := net.DialTimeout("udp4", hostPort("127.0.0.1", s.Spec.Ports[0].NodePort), time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		_, _ = c.Write([]byte("ping"))
		_, err = c.Read(make([]byte, 64))
		return err
	})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		e.t.Errorf("UDP NodePort on 127.0.0.1 from the node: %v, want connection refused (not served on loopback)", err)
	}
}
