// Package tenants manages Pollen's organizations and users, as the platform has them: each
// organization has an Organization secret, each user a User secret, and a request carries both
// ("Authorization: User <secret>, Organization <secret>"). A user is an organization
// administrator (org-admin: every instance of the organization, and its users) or a plain user
// (org: the instances they created).
//
// Secrets are generated here (32 random bytes, base64url: 256 bits) and shown once; stores keep
// a SHA-256 digest only. A slow password hash would add nothing for secrets of that entropy, and
// would cost every request; operator-chosen bootstrap secrets must pass CheckStrength for the
// same reason. The bootstrap admin is user 1 of organization 1: its secrets come from the
// operator (POLLEN_USER_SECRET, POLLEN_ORGANIZATION_SECRET) at every start.
package tenants

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pollen-hq/pollen/engine"
)

// Errors of the service.
var (
	// ErrUnauthenticated: the secrets do not name an active user of the organization.
	ErrUnauthenticated = errors.New("invalid user or organization secret")
	// ErrForbidden: the principal may not manage users.
	ErrForbidden = errors.New("only an organization administrator may manage users")
	// ErrWeakSecret: an operator-chosen secret too short or too plain to stand for a password.
	ErrWeakSecret = errors.New("secret too weak")
)

// Store keeps organizations and users. adapters/sqlite's and adapters/postgres's Stores implement it.
type Store interface {
	CreateOrganization(ctx context.Context, o *engine.Organization) error
	SetOrganizationSecret(ctx context.Context, id int64, digest []byte) error
	Organization(ctx context.Context, id int64) (*engine.Organization, error)
	OrganizationByName(ctx context.Context, name string) (*engine.Organization, error)
	Organizations(ctx context.Context) ([]*engine.Organization, error)
	CreateUser(ctx context.Context, u *engine.User) error
	UpdateUser(ctx context.Context, u *engine.User) error
	User(ctx context.Context, id int64) (*engine.User, error)
	UserByEmail(ctx context.Context, email string) (*engine.User, error)
	UserBySecret(ctx context.Context, digest []byte) (*engine.User, error)
	Users(ctx context.Context, orgID int64) ([]*engine.User, error)
}

// The bootstrap admin and its organization (adapters/sqlite's migration 3 creates them).
const (
	BootstrapUserID         = 1
	BootstrapOrganizationID = 1
)

// Options configure a Service.
type Options struct {
	Store Store // required
}

// Service manages organizations and users and authenticates requests. It is safe for concurrent
// use.
type Service struct {
	store Store
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("tenants: Options.Store is required")
	}
	return &Service{store: o.Store}, nil
}

// NewSecret returns a new User or Organization secret: 32 random bytes, base64url.
func NewSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Digest is what stores keep of a secret.
func Digest(secret string) []byte {
	sum := sha256.Sum256([]byte("pollen secret v1\x00" + secret))
	return sum[:]
}

// MinSecretLength is the shortest secret an operator may choose.
const MinSecretLength = 24

// CheckStrength refuses an operator-chosen secret that a guesser could find: shorter than
// MinSecretLength, fewer than 10 distinct characters, or made of letters only or digits only.
func CheckStrength(secret string) error {
	n := utf8.RuneCountInString(secret)
	distinct := map[rune]bool{}
	var letters, digits, others bool
	for _, r := range secret {
		distinct[r] = true
		switch {
		case unicode.IsLetter(r):
			letters = true
		case unicode.IsDigit(r):
			digits = true
		default:
			others = true
		}
	}
	switch {
	case n < MinSecretLength:
		return fmt.Errorf("%w: %d characters; use at least %d (pollen users secret prints a random one)", ErrWeakSecret, n, MinSecretLength)
	case len(distinct) < 10:
		return fmt.Errorf("%w: only %d distinct characters; use a random secret (pollen users secret prints one)", ErrWeakSecret, len(distinct))
	case !others && (!letters || !digits):
		return fmt.Errorf("%w: letters only or digits only; use a random secret (pollen users secret prints one)", ErrWeakSecret)
	case strings.TrimSpace(secret) != secret || strings.ContainsAny(secret, ", \t"):
		return fmt.Errorf("%w: spaces, tabs and commas cannot travel in an Authorization header", ErrWeakSecret)
	}
	return nil
}

// Authenticate returns the principal of a User and Organization secret pair: an active user
// whose organization has that secret. Anything else is ErrUnauthenticated, without saying which
// part was wrong.
func (s *Service) Authenticate(ctx context.Context, userSecret, orgSecret string) (engine.Principal, error) {
	if userSecret == "" || orgSecret == "" {
		return engine.Principal{}, ErrUnauthenticated
	}
	u, err := s.store.UserBySecret(ctx, Digest(userSecret))
	if errors.Is(err, engine.ErrNotFound) {
		return engine.Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return engine.Principal{}, err
	}
	o, err := s.store.Organization(ctx, u.OrganizationID)
	if err != nil {
		return engine.Principal{}, err
	}
	if subtle.ConstantTimeCompare(o.SecretDigest, Digest(orgSecret)) != 1 || !u.Active {
		return engine.Principal{}, ErrUnauthenticated
	}
	return engine.Principal{UserID: u.ID, OrganizationID: u.OrganizationID, Role: u.Role, Email: u.Email}, nil
}

// Bootstrap gives the bootstrap admin (user 1, an administrator of organization 1) these
// secrets, refusing weak ones, and makes sure it is active. Clients of a single-secret Pollen
// keep working as that admin.
func (s *Service) Bootstrap(ctx context.Context, userSecret, orgSecret string) error {
	if err := CheckStrength(userSecret); err != nil {
		return fmt.Errorf("POLLEN_USER_SECRET: %w", err)
	}
	if err := CheckStrength(orgSecret); err != nil {
		return fmt.Errorf("POLLEN_ORGANIZATION_SECRET: %w", err)
	}
	if userSecret == orgSecret {
		return fmt.Errorf("POLLEN_USER_SECRET and POLLEN_ORGANIZATION_SECRET must differ: %w", ErrWeakSecret)
	}
	o, err := s.store.Organization(ctx, BootstrapOrganizationID)
	if err != nil {
		return fmt.Errorf("bootstrap organization: %w", err)
	}
	if !equalDigest(o.SecretDigest, Digest(orgSecret)) {
		if err := s.store.SetOrganizationSecret(ctx, o.ID, Digest(orgSecret)); err != nil {
			return fmt.Errorf("bootstrap organization: %w", err)
		}
	}
	u, err := s.store.User(ctx, BootstrapUserID)
	if err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	if !equalDigest(u.SecretDigest, Digest(userSecret)) || !u.Active || u.Role != engine.RoleOrgAdmin {
		u.SecretDigest, u.Active, u.Role = Digest(userSecret), true, engine.RoleOrgAdmin
		if err := s.store.UpdateUser(ctx, u); err != nil {
			return fmt.Errorf("bootstrap admin: %w", err)
		}
	}
	return nil
}

// BootstrapState tells whether the store's bootstrap admin has been given secrets yet (set), and
// whether they are these (match): nodes sharing one store must use the same, or each would
// overwrite the others' at its start.
func (s *Service) BootstrapState(ctx context.Context, userSecret, orgSecret string) (set, match bool, err error) {
	o, err := s.store.Organization(ctx, BootstrapOrganizationID)
	if err != nil {
		return false, false, fmt.Errorf("bootstrap organization: %w", err)
	}
	u, err := s.store.User(ctx, BootstrapUserID)
	if err != nil {
		return false, false, fmt.Errorf("bootstrap admin: %w", err)
	}
	set = len(o.SecretDigest) > 0 || len(u.SecretDigest) > 0
	match = equalDigest(o.SecretDigest, Digest(orgSecret)) && equalDigest(u.SecretDigest, Digest(userSecret))
	return set, match, nil
}

func equalDigest(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
