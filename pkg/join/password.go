package join

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/pki"
)

// passwordSecretSuffix names the Secret in kube-system holding a node's
// password hash: <node>.node-password.flotilla, as k3s's
// <node>.node-password.k3s.
const passwordSecretSuffix = ".node-password.flotilla"

// PasswordSecretName is the name of the Secret holding node's password hash.
func PasswordSecretName(node string) string { return node + passwordSecretSuffix }

// PasswordSecretNode is the node whose password Secret is called name.
func PasswordSecretNode(name string) (string, bool) {
	node, ok := strings.CutSuffix(name, passwordSecretSuffix)
	return node, ok && node != ""
}

// SecretPasswords keeps node password hashes (salted SHA-256: the
// passwords are random, so a slow hash adds nothing) in Secrets in
// kube-system.
type SecretPasswords struct {
	// Client returns the server's own client; it is called per request
	// because the join endpoints serve before the API is up.
	Client func() (kubernetes.Interface, error)
}

// CheckNodePassword records password for node if no machine has joined
// under that name yet, else checks it against the recorded hash.
func (p SecretPasswords) CheckNodePassword(ctx context.Context, node, password string) error {
	cs, err := p.Client()
	if err != nil {
		return err
	}
	secrets := cs.CoreV1().Secrets(metav1.NamespaceSystem)
	name := PasswordSecretName(node)
	for range 2 {
		s, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			if !hashMatches(s.Data["hash"], password) {
				return ErrPasswordMismatch
			}
			return nil
		}
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("get node password secret: %w", err)
		}
		immutable := true
		_, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceSystem, Labels: map[string]string{"flotilla.io/node-password": node}},
			Immutable:  &immutable,
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{"hash": hashPassword(password)},
		}, metav1.CreateOptions{})
		if err == nil {
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("record node password: %w", err)
		}
		// Another join of this name won the race: check against it.
	}
	return ErrPasswordMismatch
}

// hashPassword returns "<salt hex>$<sha256(salt+password) hex>".
func hashPassword(password string) []byte {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return []byte(hex.EncodeToString(salt) + "$" + saltedSum(salt, password))
}

func hashMatches(stored []byte, password string) bool {
	saltHex, sum, ok := strings.Cut(string(stored), "$")
	salt, err := hex.DecodeString(saltHex)
	if !ok || err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(saltedSum(salt, password)), []byte(sum)) == 1
}

func saltedSum(salt []byte, password string) string {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(password))
	return hex.EncodeToString(h.Sum(nil))
}

// loadOrCreatePassword returns the agent's node password kept in
// dir/node-password (mode 0600), creating it on first use. It must
// survive as long as the node's name: losing it means the name cannot be
// joined again until an administrator deletes the node's password Secret.
func loadOrCreatePassword(dir string) (string, error) {
	path := filepath.Join(dir, "node-password")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	pw := hex.EncodeToString(buf)
	if err := pki.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write node password: %w", err)
	}
	return pw, nil
}
