package registry

import (
	"context"

	"k8s.io/apiserver/pkg/authentication/user"
)

// User is the authenticated caller of a request, as strategies that record
// the requester see it (a CertificateSigningRequest's spec.username).
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// AllAuthenticated is the group every authenticated user belongs to.
const AllAuthenticated = "system:authenticated"

type userKey struct{}

// WithUser returns ctx carrying the caller.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the caller carried by ctx.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}

// Info is the caller as k8s.io/apiserver's authorizers see it.
func (u User) Info() user.Info {
	return &user.DefaultInfo{Name: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra}
}
