package join

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/flotilla-io/flotilla/pkg/pki"
)

const tokenPrefix = "K10"

// Token is a parsed join token.
type Token struct {
	CAHash string // hex sha256 of the CA certificate PEM
	Secret string
}

func (t Token) String() string { return tokenPrefix + t.CAHash + "::node:" + t.Secret }

// ParseToken reads K10<hash>::node:<secret>.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	hash, secret, ok2 := strings.Cut(rest, "::node:")
	if !ok || !ok2 || len(hash) != 64 || secret == "" {
		return Token{}, errors.New("malformed join token: want K10<ca-sha256>::node:<secret>")
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return Token{}, errors.New("malformed join token: bad CA hash")
	}
	return Token{CAHash: hash, Secret: secret}, nil
}

// CAHash is what a token carries for a CA certificate.
func CAHash(caPEM []byte) string {
	sum := sha256.Sum256(caPEM)
	return hex.EncodeToString(sum[:])
}

// LoadOrCreateToken returns the server's join token, writing dataDir/token
// (mode 0600) on first use. The secret survives restarts; the hash follows
// the CA.
func LoadOrCreateToken(dataDir string, caPEM []byte) (Token, error) {
	path := filepath.Join(dataDir, "token")
	if b, err := os.ReadFile(path); err == nil {
		t, err := ParseToken(string(b))
		if err == nil && t.CAHash == CAHash(caPEM) {
			return t, nil
		}
	}
	return newToken(dataDir, caPEM)
}

// LoadToken reads the join token in force from dataDir/token.
func LoadToken(dataDir string) (Token, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "token"))
	if err != nil {
		return Token{}, fmt.Errorf("read join token: %w", err)
	}
	return ParseToken(string(b))
}

// RotateToken replaces the join token in dataDir with a new secret for
// the same CA and returns it. Certificate requests presenting the old
// secret are refused from then on; agents that joined keep their
// certificates, which the token never was needed for.
func RotateToken(dataDir string) (Token, error) {
	caPEM, err := os.ReadFile(filepath.Join(dataDir, "tls", "ca.crt"))
	if err != nil {
		return Token{}, fmt.Errorf("read the cluster CA (is %s a server data directory?): %w", dataDir, err)
	}
	return newToken(dataDir, caPEM)
}

func newToken(dataDir string, caPEM []byte) (Token, error) {
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return Token{}, err
	}
	t := Token{CAHash: CAHash(caPEM), Secret: hex.EncodeToString(buf)}
	if err := pki.WriteFile(filepath.Join(dataDir, "token"), []byte(t.String()+"\n"), 0o600); err != nil {
		return Token{}, fmt.Errorf("write join token: %w", err)
	}
	return t, nil
}

// secretMatches compares in constant time.
func secretMatches(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
