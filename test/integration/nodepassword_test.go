package integration

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/controller/nodepassword"
	"github.com/flotilla-io/flotilla/pkg/join"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// joinServer is a server that machines join with its token.
type joinServer struct {
	srv   *testserver.Instance
	cs    kubernetes.Interface
	ctx   context.Context
	token join.Token
	url   string
}

func startJoinServer(t *testing.T, opts testserver.Options) joinServer {
	t.Helper()
	srv := testserver.Start(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	token, err := join.LoadToken(srv.Config.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	return joinServer{srv: srv, cs: srv.Clientset(t), ctx: ctx, token: token, url: srv.RESTConfig().Host}
}

// A node name is held by the machine that joined under it (its password,
// kept in kube-system/NAME.node-password.flotilla) until its Node is
// deleted: then the Secret is deleted too, as k3s does, and another
// machine may join under the name.
func TestNodePasswordFreedWithNode(t *testing.T) {
	j := startJoinServer(t, testserver.Options{})
	cs, ctx, token, url := j.cs, j.ctx, j.token, j.url
	// The controllers watch from the moment their informers have synced:
	// a namespace settled by the serviceaccount controller shows they run
	// (a Node deleted before that is not seen being deleted).
	mustCreate(t, cs.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "controllers-up"}})
	testserver.Settled(t, cs, "controllers-up")
	const node = "worker-1"
	secret := join.PasswordSecretName(node)
	ips := []net.IP{net.ParseIP("127.0.0.2")}
	first, second := t.TempDir(), t.TempDir() // two machines' data dirs (their passwords)

	creds, err := join.Bootstrap(ctx, url, token.String(), node, ips, first)
	if err != nil {
		t.Fatalf("first machine joins: %v", err)
	}
	if _, err := cs.CoreV1().Secrets(metav1.NamespaceSystem).Get(ctx, secret, metav1.GetOptions{}); err != nil {
		t.Fatalf("password secret after the join: %v", err)
	}
	if _, err := join.Bootstrap(ctx, url, token.String(), node, ips, second); err == nil {
		t.Fatal("second machine took the name of a joined node")
	}
	// The first machine registers its Node with its own certificate.
	nodeCS, err := kubernetes.NewForConfig(creds.Client)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodeCS.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("node registers itself: %v", err)
	}

	if err := cs.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.Eventually(t, 30*time.Second, "password secret deleted with its node", func() (bool, string) {
		_, err := cs.CoreV1().Secrets(metav1.NamespaceSystem).Get(ctx, secret, metav1.GetOptions{})
		return apierrors.IsNotFound(err), "err: " + errString(err)
	})
	if _, err := join.Bootstrap(ctx, url, token.String(), node, ips, second); err != nil {
		t.Fatalf("second machine joins under the freed name: %v", err)
	}
	if _, err := join.Bootstrap(ctx, url, token.String(), node, ips, t.TempDir()); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a third machine took the name the second now holds: %v", err)
	}
}

// A Node deleted while no controller watched leaves its password Secret
// behind: the controller's start-up sweep frees it, but spares the
// Secret of a machine that has joined and not yet registered its Node.
func TestNodePasswordSweptAtStart(t *testing.T) {
	j := startJoinServer(t, testserver.Options{DisableControllers: []string{"nodepassword"}})
	srv, cs, ctx, token, url := j.srv, j.cs, j.ctx, j.token, j.url
	ctx, cancel := context.WithCancel(ctx)
	ips := []net.IP{net.ParseIP("127.0.0.2")}
	register := func(node string, creds *join.Credentials) {
		t.Helper()
		nodeCS, err := kubernetes.NewForConfig(creds.Client)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nodeCS.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("node %s registers itself: %v", node, err)
		}
	}
	gone, err := join.Bootstrap(ctx, url, token.String(), "gone", ips, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	register("gone", gone)
	if err := cs.CoreV1().Nodes().Delete(ctx, "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The deleted node's Secret is older than the controller's
	// registration grace when the controller starts.
	const grace = 4 * time.Second
	goneSecret, err := cs.CoreV1().Secrets(metav1.NamespaceSystem).Get(ctx, join.PasswordSecretName("gone"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(goneSecret.CreationTimestamp.Add(grace + time.Second)))
	// A machine joins and has not registered its Node yet.
	joining, err := join.Bootstrap(ctx, url, token.String(), "joining", ips, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	// The controller starts under its own identity.
	ctrlCS, err := kubernetes.NewForConfig(srv.UserConfig(t, "system:serviceaccount:kube-system:node-password-controller", "system:serviceaccounts", "system:serviceaccounts:kube-system"))
	if err != nil {
		t.Fatal(err)
	}
	factory := informers.NewSharedInformerFactory(ctrlCS, 0)
	c := nodepassword.New(ctrlCS, factory, grace, slog.New(slog.DiscardHandler))
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx, 1) }()
	defer func() { cancel(); <-done; factory.Shutdown() }()

	testserver.Eventually(t, 30*time.Second, "password secret of the Node deleted before the controller ran is deleted", func() (bool, string) {
		_, err := cs.CoreV1().Secrets(metav1.NamespaceSystem).Get(ctx, join.PasswordSecretName("gone"), metav1.GetOptions{})
		return apierrors.IsNotFound(err), "err: " + errString(err)
	})
	// The same sweep found the joining machine's Secret without a Node,
	// inside the grace period: it stays, and the machine registers.
	if _, err := cs.CoreV1().Secrets(metav1.NamespaceSystem).Get(ctx, join.PasswordSecretName("joining"), metav1.GetOptions{}); err != nil {
		t.Fatalf("password secret of the machine that has just joined: %v", err)
	}
	register("joining", joining)
}
