package server

import (
	"crypto/x509"
	"net"
	"testing"
)

// In-cluster clients reach the API server at the kubernetes Service's
// cluster IP and the advertised address: the serving certificate names
// both, and a certificate issued without them is issued again.
func TestServingCertificateNamesServiceAndAdvertisedIPs(t *testing.T) {
	dir := t.TempDir()
	if _, err := loadCerts(dir, "0.0.0.0"); err != nil {
		t.Fatal(err)
	}
	c, err := loadCerts(dir, "0.0.0.0", net.ParseIP("192.0.2.7"), net.ParseIP("10.43.0.1"), net.ParseIP("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.serving.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"10.43.0.1", "192.0.2.7", "127.0.0.1", "kubernetes.default.svc"} {
		if err := leaf.VerifyHostname(host); err != nil {
			t.Errorf("serving certificate: %v", err)
		}
	}
	if len(leaf.IPAddresses) != 4 {
		t.Errorf("IP SANs %v, want the two loopbacks and the two extra addresses once", leaf.IPAddresses)
	}
}
