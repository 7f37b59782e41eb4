package tenants

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pollen-hq/pollen/engine"
)

// FieldError is a problem with one field of a user or organization.
type FieldError = engine.FieldError

// UserSpec is a user to create.
type UserSpec struct {
	OrganizationID int64
	Email          string
	FirstName      string
	LastName       string
	Role           engine.Role // "" = engine.RoleUser
}

// UserPatch changes a user; nil fields stay.
type UserPatch struct {
	Email     *string
	FirstName *string
	LastName  *string
	Role      *engine.Role
	Active    *bool
}

// admin checks that actor may manage the users of organization orgID: the operator (nil) may
// manage every organization, an organization admin their own.
func admin(actor *engine.Principal, orgID int64) error {
	switch {
	case actor == nil:
		return nil
	case !actor.Admin() || actor.InstanceID != 0:
		return ErrForbidden
	case actor.OrganizationID != orgID:
		return engine.ErrNotFound
	}
	return nil
}

func checkText(ptr, v string, required bool, max int) *FieldError {
	switch {
	case required && strings.TrimSpace(v) == "":
		return &FieldError{Pointer: ptr, Msg: "is required"}
	case !utf8.ValidString(v):
		return &FieldError{Pointer: ptr, Msg: "is not valid UTF-8"}
	case utf8.RuneCountInString(v) > max:
		return &FieldError{Pointer: ptr, Msg: fmt.Sprintf("is longer than %d characters", max)}
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return &FieldError{Pointer: ptr, Msg: "must not hold control characters"}
	}
	return nil
}

func checkRole(r engine.Role) *FieldError {
	if r != engine.RoleUser && r != engine.RoleOrgAdmin {
		return &FieldError{Pointer: "/roles", Msg: fmt.Sprintf("role %q is not one of %s, %s", r, engine.RoleOrgAdmin, engine.RoleUser)}
	}
	return nil
}

// CreateOrganization creates an organization (the operator's command line only) and returns its
// secret, shown this once.
func (s *Service) CreateOrganization(ctx context.Context, name string) (*engine.Organization, string, error) {
	if fe := checkText("/name", name, true, 200); fe != nil {
		return nil, "", engine.Errors{fe}
	}
	secret := NewSecret()
	o := &engine.Organization{Name: name, SecretDigest: Digest(secret)}
	if err := s.store.CreateOrganization(ctx, o); err != nil {
		return nil, "", err
	}
	return o, secret, nil
}

// Organization returns an organization by id or name.
func (s *Service) Organization(ctx context.Context, ref string) (*engine.Organization, error) {
	var id int64
	if _, err := fmt.Sscan(ref, &id); err == nil && fmt.Sprint(id) == ref {
		return s.store.Organization(ctx, id)
	}
	return s.store.OrganizationByName(ctx, ref)
}

// Organizations returns every organization (the operator's command line).
func (s *Service) Organizations(ctx context.Context) ([]*engine.Organization, error) {
	return s.store.Organizations(ctx)
}

// RotateOrganizationSecret gives an organization a new secret and returns it, shown this once.
// Every client of the organization must then send it.
func (s *Service) RotateOrganizationSecret(ctx context.Context, actor *engine.Principal, orgID int64) (string, error) {
	if err := admin(actor, orgID); err != nil {
		return "", err
	}
	secret := NewSecret()
	if err := s.store.SetOrganizationSecret(ctx, orgID, Digest(secret)); err != nil {
		return "", err
	}
	return secret, nil
}

// CreateUser creates a user and returns their secret, shown this once.
func (s *Service) CreateUser(ctx context.Context, actor *engine.Principal, spec UserSpec) (*engine.User, string, error) {
	if err := admin(actor, spec.OrganizationID); err != nil {
		return nil, "", err
	}
	if spec.Role == "" {
		spec.Role = engine.RoleUser
	}
	var es engine.Errors
	for _, fe := range []*FieldError{checkText("/email", spec.Email, true, 254), checkText("/firstName", spec.FirstName, false, 200),
		checkText("/lastName", spec.LastName, false, 200), checkRole(spec.Role)} {
		if fe != nil {
			es = append(es, fe)
		}
	}
	if len(es) > 0 {
		return nil, "", es
	}
	if _, err := s.store.Organization(ctx, spec.OrganizationID); err != nil {
		return nil, "", fmt.Errorf("organization %d: %w", spec.OrganizationID, err)
	}
	secret := NewSecret()
	u := &engine.User{OrganizationID: spec.OrganizationID, Email: spec.Email, FirstName: spec.FirstName, LastName: spec.LastName,
		Role: spec.Role, Active: true, SecretDigest: Digest(secret)}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, "", err
	}
	return u, secret, nil
}

// Users returns the users of an organization.
func (s *Service) Users(ctx context.Context, actor *engine.Principal, orgID int64) ([]*engine.User, error) {
	if err := admin(actor, orgID); err != nil {
		return nil, err
	}
	return s.store.Users(ctx, orgID)
}

// User returns a user: to the operator, to an admin of their organization, and to the user.
func (s *Service) User(ctx context.Context, actor *engine.Principal, id int64) (*engine.User, error) {
	u, err := s.store.User(ctx, id)
	if err != nil {
		return nil, err
	}
	if actor != nil && actor.UserID == id && actor.InstanceID == 0 {
		return u, nil
	}
	if err := admin(actor, u.OrganizationID); err != nil {
		if errors.Is(err, ErrForbidden) {
			return nil, engine.ErrNotFound
		}
		return nil, err
	}
	return u, nil
}

// FindUser returns a user by id or email (the operator's command line).
func (s *Service) FindUser(ctx context.Context, ref string) (*engine.User, error) {
	var id int64
	if _, err := fmt.Sscan(ref, &id); err == nil && fmt.Sprint(id) == ref {
		return s.store.User(ctx, id)
	}
	return s.store.UserByEmail(ctx, ref)
}

// UpdateUser changes a user. An admin cannot take their own admin role or activity away, so
// that an organization always keeps one.
func (s *Service) UpdateUser(ctx context.Context, actor *engine.Principal, id int64, p UserPatch) (*engine.User, error) {
	u, err := s.User(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	if err := admin(actor, u.OrganizationID); err != nil {
		return nil, err
	}
	var es engine.Errors
	add := func(fe *FieldError) {
		if fe != nil {
			es = append(es, fe)
		}
	}
	if p.Email != nil {
		add(checkText("/email", *p.Email, true, 254))
		u.Email = *p.Email
	}
	if p.FirstName != nil {
		add(checkText("/firstName", *p.FirstName, false, 200))
		u.FirstName = *p.FirstName
	}
	if p.LastName != nil {
		add(checkText("/lastName", *p.LastName, false, 200))
		u.LastName = *p.LastName
	}
	if p.Role != nil {
		add(checkRole(*p.Role))
		if actor != nil && actor.UserID == id && *p.Role != engine.RoleOrgAdmin {
			add(&FieldError{Pointer: "/roles", Msg: "an administrator cannot take their own admin role away"})
		}
		u.Role = *p.Role
	}
	if p.Active != nil {
		if actor != nil && actor.UserID == id && !*p.Active {
			add(&FieldError{Pointer: "/active", Msg: "an administrator cannot deactivate themselves"})
		}
		u.Active = *p.Active
	}
	if len(es) > 0 {
		return nil, es
	}
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// RotateUserSecret gives a user a new secret and returns it, shown this once. A user may rotate
// their own.
func (s *Service) RotateUserSecret(ctx context.Context, actor *engine.Principal, id int64) (string, error) {
	u, err := s.User(ctx, actor, id)
	if err != nil {
		return "", err
	}
	secret := NewSecret()
	u.SecretDigest = Digest(secret)
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return "", err
	}
	return secret, nil
}
