package server

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func TestAdvertiseAddress(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{AdvertiseAddress: "192.0.2.7", BindAddress: "127.0.0.1"}, "192.0.2.7"},
		{Config{BindAddress: "192.0.2.8"}, "192.0.2.8"},
		// Upstream would pick the host's address; this server does not
		// listen there.
		{Config{BindAddress: "127.0.0.1"}, "127.0.0.1"},
	} {
		ip, err := advertiseAddress(c.cfg)
		if err != nil || ip.String() != c.want {
			t.Errorf("%+v: %v %v, want %s", c.cfg, ip, err, c.want)
		}
	}
	if _, err := advertiseAddress(Config{AdvertiseAddress: "nope"}); err == nil {
		t.Error("an advertise address that is no IP must be refused")
	}
}

func TestAPISubsetsAndSlice(t *testing.T) {
	subsets := apiSubsets([]string{"192.0.2.2:6443", "192.0.2.1:6443", "127.0.0.1:7443", "garbage"})
	got := ""
	for _, ss := range subsets {
		got += fmt.Sprintf("%s/%d:", ss.Ports[0].Name, ss.Ports[0].Port)
		for _, a := range ss.Addresses {
			got += a.IP + ","
		}
		got += " "
	}
	if want := "https/6443:192.0.2.1,192.0.2.2, https/7443:127.0.0.1, "; got != want {
		t.Errorf("subsets %q, want %q", got, want)
	}
	s := apiSlice(&corev1.Endpoints{Subsets: subsets})
	if s.AddressType != discoveryv1.AddressTypeIPv4 || len(s.Endpoints) != 2 || len(s.Ports) != 1 || *s.Ports[0].Port != 6443 ||
		!*s.Endpoints[0].Conditions.Ready || s.Endpoints[0].Addresses[0] != "192.0.2.1" {
		t.Errorf("slice %+v", s)
	}
	v6 := apiSlice(&corev1.Endpoints{Subsets: apiSubsets([]string{"[2001:db8::1]:6443"})})
	if v6.AddressType != discoveryv1.AddressTypeIPv6 || len(v6.Endpoints) != 1 {
		t.Errorf("IPv6 slice %+v", v6)
	}
}
