package ingress

import (
	"crypto/tls"
	"log/slog"
	"time"

	"k8s.io/client-go/kubernetes"
)

const (
	// ControllerName is the spec.controller of the IngressClasses this
	// package serves.
	ControllerName = "flotilla.io/ingress"
	// DefaultClassName is the IngressClass the server creates.
	DefaultClassName = "flotilla"
	// classAnnotation is the deprecated way to name an Ingress's class,
	// still honoured when spec.ingressClassName is unset.
	classAnnotation = "kubernetes.io/ingress.class"
)

// Config is what one node's ingress controller needs; zero fields take
// the defaults.
type Config struct {
	// HTTPAddress and HTTPSAddress are where plain HTTP and HTTPS are
	// served (":80" and ":443" when empty: every address of the node).
	// Port 0 picks a free port (see Controller.Addresses).
	HTTPAddress  string
	HTTPSAddress string
	// NodeName names the node in the Events the controller records.
	NodeName string
	// Client, when set, is used to record Events (an invalid TLS Secret)
	// on the Ingresses; without it problems are only logged. Nothing else
	// is ever written, and requests never reach the API.
	Client kubernetes.Interface
	// DefaultCertificate is served for unknown or absent SNI and for
	// hosts whose Secret is unusable; nil: a self-signed certificate made
	// by New.
	DefaultCertificate *tls.Certificate
	// ShutdownTimeout bounds how long in-flight requests may finish when
	// the controller stops listening (default 10 s).
	ShutdownTimeout time.Duration
	// DialTimeout bounds connecting to an endpoint (default 5 s).
	DialTimeout time.Duration
	Log         *slog.Logger
}

func (c *Config) complete() {
	if c.HTTPAddress == "" {
		c.HTTPAddress = ":80"
	}
	if c.HTTPSAddress == "" {
		c.HTTPSAddress = ":443"
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}
