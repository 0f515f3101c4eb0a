package cri

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// maxMsgSize bounds CRI messages, as the kubelet does (16 MiB): a
// ListContainers on a busy node is the largest.
const maxMsgSize = 16 << 20

// Client talks to one CRI endpoint.
type Client struct {
	conn    *grpc.ClientConn
	Runtime runtimeapi.RuntimeServiceClient
	Images  runtimeapi.ImageServiceClient
}

// Dial connects to endpoint, a unix socket path or unix:// URL. The
// connection is lazy; Version checks that the runtime answers.
func Dial(endpoint string) (*Client, error) {
	target := endpoint
	if !strings.HasPrefix(target, "unix://") {
		target = "unix://" + target
	}
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize), grpc.MaxCallSendMsgSize(maxMsgSize)))
	if err != nil {
		return nil, fmt.Errorf("dial CRI %s: %w", endpoint, err)
	}
	return &Client{conn: conn, Runtime: runtimeapi.NewRuntimeServiceClient(conn), Images: runtimeapi.NewImageServiceClient(conn)}, nil
}

// Close drops the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Version asks the runtime for its name and version.
func (c *Client) Version(ctx context.Context) (*runtimeapi.VersionResponse, error) {
	return c.Runtime.Version(ctx, &runtimeapi.VersionRequest{Version: "v1"})
}

// WaitReady polls Version until the runtime answers or ctx ends.
func (c *Client) WaitReady(ctx context.Context) (*runtimeapi.VersionResponse, error) {
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		v, err := c.Version(cctx)
		cancel()
		if err == nil {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("CRI runtime not ready: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitNetworkReady polls the runtime's status until it reports its pod
// network ready (containerd loads a CNI config written after it started
// within moments), or ctx ends.
func (c *Client) WaitNetworkReady(ctx context.Context) error {
	var last string
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := c.Runtime.Status(cctx, &runtimeapi.StatusRequest{})
		cancel()
		if err != nil {
			last = err.Error()
		} else {
			for _, cond := range st.GetStatus().GetConditions() {
				if cond.Type == runtimeapi.NetworkReady {
					if cond.Status {
						return nil
					}
					last = cond.Reason + ": " + cond.Message
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRI runtime's network not ready: %w (last: %s)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
