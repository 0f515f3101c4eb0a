// Package eventrecorder is the one way Flotilla's components record
// Events: client-go's event broadcaster with its correlator, so repeated
// Events are aggregated into one with a count, similar ones are folded
// together and a noisy source is rate-limited, as upstream's components
// do. Each component records under its own upstream name (kubelet,
// default-scheduler, replicaset-controller, ...).
package eventrecorder
