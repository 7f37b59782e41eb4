package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned by stores and services for an instance, user, organization, event or
// notification that does not exist, or that the principal asking may not see: the two are not
// told apart, so that existence does not leak.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by stores for an organization name or a user email that is already
// taken. Its text, "already exists", is what the API answers 409 Conflict on.
var ErrConflict = errors.New("already exists")

// InstanceRecord is an element instance as a store keeps it: the body it was created from, its
// identity and its owner. Configuration holds secrets: never log it; stores keep it sealed.
type InstanceRecord struct {
	ID         int64
	Name       string
	Tags       []string
	Token      string // unique among instances when not empty
	ElementKey string
	// Configuration is the configuration as the client sent it, secrets included. It reads back
	// with numbers as json.Number, so that they keep their exact digits.
	Configuration map[string]any
	CreatedAt     time.Time
	UpdatedAt     time.Time
	Disabled      bool
	// UserID is the user who created the instance; OrganizationID that user's organization.
	UserID, OrganizationID int64
}

// Role is what a user may do in their organization.
type Role string

// Roles, by the platform's keys.
const (
	// RoleOrgAdmin sees and changes every instance of the organization and manages its users.
	RoleOrgAdmin Role = "org-admin"
	// RoleUser sees and changes the instances they created.
	RoleUser Role = "org"
)

// Organization is a tenant: users and their instances. Its secret is kept as a digest only.
type Organization struct {
	ID           int64
	Name         string
	SecretDigest []byte
	CreatedAt    time.Time
}

// User is a person or program acting in one organization. Their secret is kept as a digest
// only.
type User struct {
	ID             int64
	OrganizationID int64
	Email          string
	FirstName      string
	LastName       string
	Role           Role
	Active         bool
	SecretDigest   []byte
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Principal is who a request acts for, once authenticated.
type Principal struct {
	UserID         int64
	OrganizationID int64
	Role           Role
	Email          string
	// InstanceID, when set, narrows the principal to one instance: the request carried that
	// instance's Element token, and reaches nothing else.
	InstanceID int64
}

// Admin reports whether the principal administers its organization.
func (p Principal) Admin() bool { return p.Role == RoleOrgAdmin }

// CanSee reports whether the principal may see (and change) an instance: its own, any of its
// organization's for an organization admin, and only the Element token's when it has one.
func (p Principal) CanSee(rec *InstanceRecord) bool {
	switch {
	case rec == nil || p.OrganizationID == 0 || rec.OrganizationID != p.OrganizationID:
		return false
	case p.InstanceID != 0 && rec.ID != p.InstanceID:
		return false
	}
	return p.Admin() || rec.UserID == p.UserID
}

// Scope is the principal's reach, for store queries: the organization, the user within it (0:
// every user, for an admin), and one instance (0: any).
func (p Principal) Scope() Scope {
	s := Scope{OrganizationID: p.OrganizationID, InstanceID: p.InstanceID}
	if !p.Admin() {
		s.UserID = p.UserID
	}
	return s
}

// Scope selects instances by owner. The zero Scope selects every instance (the system's own
// reads: startup, reloads, the command line).
type Scope struct {
	OrganizationID int64
	UserID         int64
	InstanceID     int64
}

// All reports whether the scope selects every instance.
func (s Scope) All() bool { return s == Scope{} }

// Holds reports whether an instance owned so is in the scope.
func (s Scope) Holds(id, userID, orgID int64) bool {
	if s.All() {
		return true
	}
	return orgID == s.OrganizationID && (s.UserID == 0 || userID == s.UserID) && (s.InstanceID == 0 || id == s.InstanceID)
}

// Sealer encrypts what a store keeps of a tenant's secrets (instance configurations: vendor
// credentials, signature keys, URLs with credentials). Open accepts what Seal returned with any
// key the sealer still holds. engine/seal's Keyring is the implementation; any store uses it the
// same way.
type Sealer interface {
	Seal(plaintext []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

// SealConfiguration encodes an instance configuration as every store keeps it at rest: the
// JSON object sealed by sealer, or the JSON text itself when sealer is nil (tests). The two forms
// tell apart by their first byte ('{' is never the first byte of a sealed value), so that a store
// reads configurations written before it had a key, and `pollen migrate` copies them as stored.
func SealConfiguration(sealer Sealer, conf map[string]any) ([]byte, error) {
	if conf == nil {
		conf = map[string]any{}
	}
	b, err := json.Marshal(conf)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if sealer == nil {
		return b, nil
	}
	sealed, err := sealer.Seal(b)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return sealed, nil
}

// OpenConfiguration decodes what SealConfiguration made of instance id's configuration, numbers
// kept as json.Number.
func OpenConfiguration(sealer Sealer, id int64, b []byte) (map[string]any, error) {
	if len(b) > 0 && b[0] != '{' {
		if sealer == nil {
			return nil, fmt.Errorf("instance %d configuration is sealed and the store has no key", id)
		}
		plain, err := sealer.Open(b)
		if err != nil {
			return nil, fmt.Errorf("instance %d configuration: %w", id, err)
		}
		b = plain
	}
	var conf map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&conf); err != nil {
		return nil, fmt.Errorf("instance %d configuration: %w", id, err)
	}
	return conf, nil
}
