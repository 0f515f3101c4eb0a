package server

import (
	"slices"
	"testing"

	"github.com/flotilla-io/flotilla/pkg/auth/bootstrappolicy"
)

// Every controller the server runs acts as a service account that the
// bootstrap policy gives a role.
func TestEveryControllerHasAnIdentityAndRole(t *testing.T) {
	roles := bootstrappolicy.ControllerServiceAccounts()
	for _, name := range ControllerNames {
		if name == "scheduler" {
			continue // system:kube-scheduler
		}
		sa, ok := controllerServiceAccounts[name]
		if !ok {
			t.Errorf("controller %s has no service account", name)
			continue
		}
		if !slices.Contains(roles, sa) {
			t.Errorf("controller %s runs as %s, which has no system:controller: role", name, sa)
		}
	}
}
