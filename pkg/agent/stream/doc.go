// Package stream serves a node's pods' streaming subresources — log,
// exec, attach and portforward — and keeps their container logs in
// bounds (the kubelet's streaming server and container log manager).
//
// The API server, having authorised the user, hands the request on: to
// Server.ServePod directly for the agent in its own process, or over TLS
// to the agent's endpoint (TLSServer, Serve), which serves only the API
// server's client certificate and reads the pod again so a stale request
// cannot reach another pod. Logs are read from the CRI log files; exec,
// attach and portforward get a URL from the runtime (containerd's
// streaming server) and the client's SPDY upgrade is proxied there, or a
// WebSocket request is translated to SPDY (pkg/streaming).
//
// Rotator renames container logs that outgrew their size limit and asks
// the runtime to reopen them, keeping a bounded number of files.
package stream
