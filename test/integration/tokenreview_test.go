package integration

import (
	"context"
	"slices"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
	"github.com/flotilla-io/flotilla/pkg/serviceaccount"
)

// TokenReview honours spec.audiences as upstream: the token is checked
// against the review's audiences (the API server's when it names none),
// a token meant for none of them is not authenticated and status.error
// says why, and status.audiences is the token's audiences among those
// asked for.
func TestTokenReviewAudiences(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	ns := "tokenreview"
	mustCreate(t, cs.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	testserver.Settled(t, cs, ns)
	mustCreate(t, cs.CoreV1().ServiceAccounts(ns).Create, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}})
	token := func(auds ...string) string {
		tr, err := requestToken(t, cs, ns, "app", authenticationv1.TokenRequestSpec{Audiences: auds})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	xy, api := token("x", "y"), token()

	for _, tc := range []struct {
		name      string
		token     string
		audiences []string
		authn     bool
		want      []string // status.audiences
		err       string   // status.error
	}{
		{name: "token for x,y reviewed for y", token: xy, audiences: []string{"y"}, authn: true, want: []string{"y"}},
		{name: "token for x,y reviewed for z,x,y", token: xy, audiences: []string{"z", "x", "y"}, authn: true, want: []string{"x", "y"}},
		{name: "token for x,y reviewed for z", token: xy, audiences: []string{"z"},
			err: `token audiences ["x" "y"] is invalid for the target audiences ["z"]`},
		{name: "token for x,y reviewed for the API server", token: xy,
			err: `token audiences ["x" "y"] is invalid for the target audiences ["` + serviceaccount.Issuer + `"]`},
		{name: "API token reviewed for the API server", token: api, authn: true, want: []string{serviceaccount.Issuer}},
		{name: "API token reviewed for x", token: api, audiences: []string{"x"},
			err: `token audiences ["` + serviceaccount.Issuer + `"] is invalid for the target audiences ["x"]`},
		{name: "not a token", token: "not-a-token", audiences: []string{"x"}, err: "invalid bearer token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			review, err := cs.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
				Spec: authenticationv1.TokenReviewSpec{Token: tc.token, Audiences: tc.audiences},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			st := review.Status
			if st.Authenticated != tc.authn || st.Error != tc.err || !slices.Equal(st.Audiences, tc.want) {
				t.Fatalf("status authenticated=%v error=%q audiences=%q\nwant authenticated=%v error=%q audiences=%q",
					st.Authenticated, st.Error, st.Audiences, tc.authn, tc.err, tc.want)
			}
			if tc.authn && st.User.Username != "system:serviceaccount:"+ns+":app" {
				t.Errorf("user %q", st.User.Username)
			}
			if !tc.authn && st.User.Username != "" {
				t.Errorf("unauthenticated review names user %q", st.User.Username)
			}
		})
	}
}
