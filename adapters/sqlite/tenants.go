package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/pollen-hq/pollen/engine"
)

// ErrConflict is engine.ErrConflict: a name or email already taken.
var ErrConflict = engine.ErrConflict

func conflictOr(err error) error {
	if err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed") {
		return fmt.Errorf("%w (%v)", ErrConflict, err)
	}
	return err
}

// CreateOrganization stores a new organization and sets o.ID; ErrConflict when the name is taken.
func (s *Store) CreateOrganization(ctx context.Context, o *engine.Organization) error {
	if o.CreatedAt.IsZero() {
		o.CreatedAt = s.now().UTC()
	}
	created, err := nanos(o.CreatedAt)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO organizations (name, secret_digest, created_at) VALUES (?, ?, ?) RETURNING id`,
			o.Name, nullBytes(o.SecretDigest), created).Scan(&o.ID)
	})
	if err != nil {
		return fmt.Errorf("sqlite: create organization %q: %w", o.Name, conflictOr(err))
	}
	return nil
}

// SetOrganizationSecret replaces an organization's secret digest; ErrNotFound when there is no
// such organization.
func (s *Store) SetOrganizationSecret(ctx context.Context, id int64, digest []byte) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE organizations SET secret_digest = ? WHERE id = ?`, nullBytes(digest), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: organization %d: %w", id, conflictOr(err))
	}
	return nil
}

const orgColumns = `id, name, secret_digest, created_at`

func scanOrganization(r scanner) (*engine.Organization, error) {
	var o engine.Organization
	var created sql.NullInt64
	if err := r.Scan(&o.ID, &o.Name, &o.SecretDigest, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	o.CreatedAt = fromNanos(created)
	return &o, nil
}

// Organization returns an organization by id, or ErrNotFound.
func (s *Store) Organization(ctx context.Context, id int64) (*engine.Organization, error) {
	o, err := scanOrganization(s.r.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM organizations WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("sqlite: organization %d: %w", id, err)
	}
	return o, nil
}

// OrganizationByName returns an organization by name, or ErrNotFound.
func (s *Store) OrganizationByName(ctx context.Context, name string) (*engine.Organization, error) {
	o, err := scanOrganization(s.r.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM organizations WHERE name = ?`, name))
	if err != nil {
		return nil, fmt.Errorf("sqlite: organization %q: %w", name, err)
	}
	return o, nil
}

// Organizations returns every organization, by id.
func (s *Store) Organizations(ctx context.Context) ([]*engine.Organization, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+orgColumns+` FROM organizations ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: organizations: %w", err)
	}
	defer rows.Close()
	var out []*engine.Organization
	for rows.Next() {
		o, err := scanOrganization(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: organizations: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

const userColumns = `id, organization_id, email, first_name, last_name, role, active, secret_digest, created_at, updated_at`

func scanUser(r scanner) (*engine.User, error) {
	var u engine.User
	var created, updated sql.NullInt64
	var role string
	if err := r.Scan(&u.ID, &u.OrganizationID, &u.Email, &u.FirstName, &u.LastName, &role, &u.Active, &u.SecretDigest, &created, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	u.Role, u.CreatedAt, u.UpdatedAt = engine.Role(role), fromNanos(created), fromNanos(updated)
	return &u, nil
}

// CreateUser stores a new user and sets u.ID; ErrConflict when the email is taken.
func (s *Store) CreateUser(ctx context.Context, u *engine.User) error {
	now := s.now().UTC()
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	u.UpdatedAt = u.CreatedAt
	created, err := nanos(u.CreatedAt)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO users (organization_id, email, first_name, last_name, role, active, secret_digest, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			u.OrganizationID, u.Email, u.FirstName, u.LastName, string(u.Role), u.Active, nullBytes(u.SecretDigest), created, created).Scan(&u.ID)
	})
	if err != nil {
		return fmt.Errorf("sqlite: create user %q: %w", u.Email, conflictOr(err))
	}
	return nil
}

// UpdateUser replaces a user's fields but its id, organization and creation time; ErrNotFound
// when there is no such user, ErrConflict when the email is taken.
func (s *Store) UpdateUser(ctx context.Context, u *engine.User) error {
	u.UpdatedAt = s.now().UTC()
	updated, err := nanos(u.UpdatedAt)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET email = ?, first_name = ?, last_name = ?, role = ?, active = ?, secret_digest = ?, updated_at = ?
			WHERE id = ?`, u.Email, u.FirstName, u.LastName, string(u.Role), u.Active, nullBytes(u.SecretDigest), updated, u.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: update user %d: %w", u.ID, conflictOr(err))
	}
	return nil
}

// User returns a user by id, or ErrNotFound.
func (s *Store) User(ctx context.Context, id int64) (*engine.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("sqlite: user %d: %w", id, err)
	}
	return u, nil
}

// UserByEmail returns a user by email, or ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (*engine.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email))
	if err != nil {
		return nil, fmt.Errorf("sqlite: user %q: %w", email, err)
	}
	return u, nil
}

// UserBySecret returns the user whose secret has this digest, or ErrNotFound.
func (s *Store) UserBySecret(ctx context.Context, digest []byte) (*engine.User, error) {
	if len(digest) == 0 {
		return nil, fmt.Errorf("sqlite: user by secret: %w", ErrNotFound)
	}
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE secret_digest = ?`, digest))
	if err != nil {
		return nil, fmt.Errorf("sqlite: user by secret: %w", err)
	}
	return u, nil
}

// Users returns the users of an organization (0: of every organization), by id.
func (s *Store) Users(ctx context.Context, orgID int64) ([]*engine.User, error) {
	q, args := `SELECT `+userColumns+` FROM users`, []any{}
	if orgID != 0 {
		q, args = q+` WHERE organization_id = ?`, append(args, orgID)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: users: %w", err)
	}
	defer rows.Close()
	var out []*engine.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
