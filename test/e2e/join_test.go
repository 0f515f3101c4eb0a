package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/containerd"
	"github.com/flotilla-io/flotilla/pkg/cri"
)

// The joined machine's link: a /30 no other test uses (multinode has
// 10.251-252, svccluster 10.254, hack/conformance 10.250).
const (
	joinHostIP = "10.253.0.1"
	joinNodeIP = "10.253.0.2"
)

// `flotilla agent --server --token` joins a machine to the shared
// (agent-less) cluster: it pins the CA with the token, gets a node
// certificate for its own key, registers and runs pods.
func TestAgentJoinsWithToken(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: it creates a network namespace and runs a node agent")
	}
	tokenFile := filepath.Join(cluster.dataDir, "token")
	token, err := os.ReadFile(tokenFile)
	if err != nil || !strings.HasPrefix(string(token), "K10") {
		t.Fatalf("server token: %q %v", token, err)
	}
	dir, err := os.MkdirTemp("/tmp", "fl-join-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A token for another CA is refused before anything is sent.
	bad := "K10" + strings.Repeat("0", 64) + "::node:whatever"
	out, err := exec.Command(cluster.bin, "agent", "--server", cluster.url, "--token", bad, "--data-dir", filepath.Join(dir, "bad"), "--node-name", "bad-node").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "does not match the join token") {
		t.Fatalf("wrong CA hash: %v\n%s", err, out)
	}
	// The right CA with a wrong secret gets 401.
	hash := strings.TrimPrefix(strings.SplitN(strings.TrimSpace(string(token)), "::", 2)[0], "K10")
	out, err = exec.Command(cluster.bin, "agent", "--server", cluster.url, "--token", "K10"+hash+"::node:wrong", "--data-dir", filepath.Join(dir, "bad"), "--node-name", "bad-node").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "401") {
		t.Fatalf("wrong secret: %v\n%s", err, out)
	}

	// The joined machine is a network namespace of this test's own, as a
	// real second machine has its own network: its pod bridge, addresses
	// and routes are its own (one agent per network namespace). The shared
	// server listens on loopback only; a relay in the namespace makes it
	// reachable there at the same address, and the server reaches the
	// agent at the node's address over the link.
	host := newNSHost(t, "fljoin", joinHostIP, joinNodeIP)
	host.relayLoopback(cluster.port)
	const agentPort = 10250 // the namespace is the test's: the kubelet's port is free
	logf, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	agentArgs := []string{"agent", "--eviction-hard", testEvictionHard, "--server", cluster.url, "--token-file", tokenFile, "--data-dir", filepath.Join(dir, "data"), "--node-name", "join-node",
		"--node-label", "flotilla.io/joined=yes", "--node-ip", joinNodeIP, "--agent-port", strconv.Itoa(agentPort),
		// Pods of the other tests sharing this cluster stay off it.
		"--node-taint", "flotilla.io/joined=yes:NoSchedule",
		// The shared cluster's Services, DNS and policies are other tests'
		// business: this node would publish itself as their DNS endpoint.
		"--disable-kube-proxy", "--disable-cluster-dns", "--disable-network-policy", "--disable-ingress"}
	containerdDir := filepath.Join(dir, "data", "agent", "containerd")
	agent := host.command(cluster.bin, agentArgs...)
	agent.Stdout, agent.Stderr = logf, logf
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		kubectl(t, "", "delete", "pod", "joined", "-n", "default", "--grace-period=1", "--ignore-not-found", "--timeout=60s")
		// Whatever is left while containerd is up, so no sandbox (nor its
		// shim, which would hold the namespace) outlives the test.
		removeSandboxes(t, containerdDir)
		interruptAndWait(agent, 30*time.Second) // the current agent process, see the restart below
		_ = exec.Command("umount", "-R", containerdDir).Run()
		kubectl(t, "", "delete", "node", "join-node", "--ignore-not-found")
		kubectl(t, "", "delete", "secret", "-n", "kube-system", "join-node.node-password.flotilla", "--ignore-not-found")
		reviewLog(t, "agent", filepath.Join(dir, "agent.log"), 40)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := kubectl(t, "", "get", "node", "join-node", "--show-labels")
		if r.code == 0 && regexp.MustCompile(`join-node\s+Ready\s`).MatchString(r.stdout) && strings.Contains(r.stdout, "flotilla.io/joined=yes") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("joined node not Ready: %s", r)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The node lifecycle controller lifts the not-ready taints it put on
	// the new node once it has seen the node Ready.
	for deadline := time.Now().Add(30 * time.Second); ; {
		got := ok(t, "", "get", "node", "join-node", "-o", `jsonpath={range .spec.taints[*]}{.key}={.value}:{.effect} {end}|{.status.addresses[?(@.type=="InternalIP")].address}`)
		if got == "flotilla.io/joined=yes:NoSchedule |"+joinNodeIP {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("joined node's taints|InternalIP: %q", got)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The agent holds a certificate for its own name, signed by the cluster CA.
	pemBytes, err := os.ReadFile(filepath.Join(dir, "data", "tls", "client.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || cert.Subject.CommonName != "system:node:join-node" {
		t.Fatalf("node certificate: %v %v", cert.Subject, err)
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || len(cert.IPAddresses)+len(cert.DNSNames) != 0 {
		t.Fatalf("node client certificate: usages %v, names %v %v; want client use only, no names", cert.ExtKeyUsage, cert.DNSNames, cert.IPAddresses)
	}
	// Its serving certificate names only the node and its address.
	pemBytes, err = os.ReadFile(filepath.Join(dir, "data", "tls", "serving.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ = pem.Decode(pemBytes)
	serving, err := x509.ParseCertificate(block.Bytes)
	if err != nil || len(serving.ExtKeyUsage) != 1 || serving.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth ||
		len(serving.IPAddresses) != 1 || serving.IPAddresses[0].String() != joinNodeIP || strings.Join(serving.DNSNames, ",") != "join-node" {
		t.Fatalf("node serving certificate: %v usages %v names %v %v", err, serving.ExtKeyUsage, serving.DNSNames, serving.IPAddresses)
	}
	// Another machine with the same token cannot take the name over.
	out, err = exec.Command(cluster.bin, "agent", "--server", cluster.url, "--token-file", tokenFile, "--data-dir", filepath.Join(dir, "thief"), "--node-name", "join-node").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already joined by another machine") {
		t.Fatalf("second machine joining as join-node: %v\n%s", err, out)
	}
	pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: joined\nspec:\n  nodeName: join-node\n  tolerations:\n  - {key: flotilla.io/joined, operator: Equal, value: \"yes\", effect: NoSchedule}\n  containers:\n  - name: c\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo hello from the joined node; trap 'exit 0' TERM; while true; do sleep 0.2; done\"]\n"
	ok(t, pod, "apply", "-n", "default", "-f", "-")
	deadline = time.Now().Add(60 * time.Second)
	for {
		phase := ok(t, "", "get", "pod", "joined", "-n", "default", "-o", "jsonpath={.status.phase}")
		if phase == "Running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod on the joined node not Running: %q", phase)
		}
		time.Sleep(250 * time.Millisecond)
	}

	// Logs and exec reach the agent on the other "machine" through the
	// server, which proxies to the endpoint the node reports.
	if got := ok(t, "", "logs", "joined", "-n", "default"); !strings.Contains(got, "hello from the joined node") {
		t.Fatalf("logs of the pod on the joined node: %q", got)
	}
	if got := ok(t, "", "exec", "joined", "-n", "default", "--", "sh", "-c", "echo exec on $(hostname)"); strings.TrimSpace(got) != "exec on joined" {
		t.Fatalf("exec on the joined node: %q", got)
	}
	if got := ok(t, "piped stdin\n", "exec", "-i", "joined", "-n", "default", "--", "cat"); got != "piped stdin\n" {
		t.Fatalf("exec -i on the joined node: %q", got)
	}
	// Errors from the agent come back as the agent's Status.
	r := kubectl(t, "", "logs", "joined", "-n", "default", "--container", "nope")
	if r.code == 0 || !strings.Contains(r.stderr, "nope") {
		t.Fatalf("logs of a missing container: %s", r)
	}
	// The agent serves the server's certificate only: even the cluster
	// admin's is refused.
	admin, err := tls.LoadX509KeyPair(filepath.Join(cluster.dataDir, "tls", "admin.crt"), filepath.Join(cluster.dataDir, "tls", "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(cluster.dataDir, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{admin}}}}
	resp, err := hc.Get(fmt.Sprintf("https://%s:%d/flotilla/v1/pods/default/joined/log", joinNodeIP, agentPort))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("agent endpoint served the admin certificate: %s", resp.Status)
	}
	// Refused in the handshake, by an agent reached over the link.
	if !strings.Contains(err.Error(), "tls:") {
		t.Fatalf("admin certificate: want a TLS refusal, got %v", err)
	}

	// A pod deleted while its agent is down leaves a sandbox behind; the
	// agent removes it when it comes back. Pods keep running meanwhile.
	interruptAndWait(agent, 30*time.Second)
	rt, err := cri.Dial(containerd.Socket(containerdDir))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	sandboxes := func() int {
		l, err := rt.Runtime.ListPodSandbox(context.Background(), &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"io.kubernetes.pod.name": "joined"}}})
		if err != nil {
			return -1 // containerd is down with its agent
		}
		return len(l.Items)
	}
	ok(t, "", "delete", "pod", "joined", "-n", "default", "--force", "--grace-period=0")
	agent = host.command(cluster.bin, agentArgs...)
	agent.Stdout, agent.Stderr = logf, logf
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(60 * time.Second)
	for sandboxes() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the orphaned sandbox of the deleted pod is still there (%d)", sandboxes())
		}
		time.Sleep(250 * time.Millisecond)
	}
}
