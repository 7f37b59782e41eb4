package console

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"

	"github.com/pollen-hq/pollen/engine"
)

// Principal is who a session belongs to.
type Principal struct {
	// ID identifies the principal; stable across sessions.
	ID string
	// Name is shown in the console's header.
	Name string
	// As is the principal the session's API calls act for (Sessions.Principal).
	As engine.Principal
}

// ErrSignIn is what Accounts.SignIn returns for credentials it does not accept. The console shows
// one message for every refusal, so that a refusal says nothing about which secret was wrong.
var ErrSignIn = errors.New("console: invalid user or organization secret")

// Accounts checks sign-in credentials: the User and Organization secrets the API's Authorization
// header would carry. cmd/pollen wires it.
type Accounts interface {
	// SignIn returns the principal whose secrets these are, or an error wrapping ErrSignIn.
	SignIn(ctx context.Context, user, organization string) (Principal, error)
}

// SingleAccount accepts one User and Organization secret pair: Pollen's one identity until users
// and organizations exist. The secrets are compared by digest in constant time, as the API does.
type SingleAccount struct {
	User, Organization string
	Principal          Principal
}

// SignIn implements Accounts.
func (a SingleAccount) SignIn(_ context.Context, user, organization string) (Principal, error) {
	if a.User == "" || a.Organization == "" {
		return Principal{}, ErrSignIn
	}
	u, wantU := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(a.User))
	o, wantO := sha256.Sum256([]byte(organization)), sha256.Sum256([]byte(a.Organization))
	if subtle.ConstantTimeCompare(u[:], wantU[:])&subtle.ConstantTimeCompare(o[:], wantO[:]) != 1 {
		return Principal{}, ErrSignIn
	}
	return a.Principal, nil
}

var _ Accounts = SingleAccount{}
