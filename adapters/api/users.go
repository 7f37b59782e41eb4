package api

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/tenants"
	"github.com/pollen-hq/pollen/schemas"
)

// The user routes, in the platform's shape (its /users API), for organization administrators:
//
//	GET   /users                       the organization's users
//	POST  /users                       {"email", "firstName", "lastName", "roles": [{"key": "org-admin"|"org"}]}: the answer
//	                                   carries the new user's "secret", shown this once
//	GET   /users/me                    the principal's own user (any user)
//	GET   /users/{id}                  one user
//	PATCH /users/{id}                  any of email, firstName, lastName, roles, active (false disables the user)
//	POST  /users/{id}/secret           a new User secret, shown this once (an admin, or the user themself)
//	POST  /organizations/me/secret     a new Organization secret, shown this once; every client must then send it
//
// A plain user is answered 403 on the administrators' routes; a user of another organization 404.

// accountUserJSON is a user as the platform shows one.
type accountUserJSON struct {
	ID             int64      `json:"id"`
	OrganizationID int64      `json:"organizationId"`
	CreatedDate    string     `json:"createdDate"`
	Email          string     `json:"email"`
	FirstName      string     `json:"firstName"`
	LastName       string     `json:"lastName"`
	FullName       string     `json:"fullName"`
	Active         bool       `json:"active"`
	Enabled        bool       `json:"enabled"`
	Roles          []roleJSON `json:"roles"`
	// Secret is the User secret, only in the answer that created or rotated it.
	Secret string `json:"secret,omitempty"`
}

type roleJSON struct {
	Key  string `json:"key"`
	Name string `json:"name"`
}

// secretJSON answers a secret rotation.
type secretJSON struct {
	Secret string `json:"secret"`
}

func viewUser(u *engine.User) accountUserJSON {
	name := "Organization User"
	if u.Role == engine.RoleOrgAdmin {
		name = "Organization Administrator"
	}
	return accountUserJSON{ID: u.ID, OrganizationID: u.OrganizationID, CreatedDate: u.CreatedAt.UTC().Format(time.DateOnly),
		Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, FullName: strings.TrimSpace(u.FirstName + " " + u.LastName),
		Active: u.Active, Enabled: u.Active, Roles: []roleJSON{{Key: string(u.Role), Name: name}}}
}

// userRoutes are the user routes, in one table for openapi_test.go.
var userRoutes = []operation{
	{pattern: "GET /users", serve: (*Server).listUsers},
	{pattern: "POST /users", serve: (*Server).createUser},
	{pattern: "GET /users/me", serve: (*Server).getMe},
	{pattern: "GET /users/{id}", serve: (*Server).getUser},
	{pattern: "PATCH /users/{id}", serve: (*Server).patchUser},
	{pattern: "POST /users/{id}/secret", serve: (*Server).rotateUserSecret},
	{pattern: "POST /organizations/me/secret", serve: (*Server).rotateOrganizationSecret},
}

// routeUsers registers the user routes, and 405 for the methods their paths do not serve.
func (s *Server) routeUsers(m *http.ServeMux) {
	served := map[string][]string{}
	var paths []string
	for _, op := range userRoutes {
		s.handle(m, op.pattern, false, func(w http.ResponseWriter, r *http.Request) { op.serve(s, w, r) })
		method, path, _ := strings.Cut(op.pattern, " ")
		if served[path] == nil {
			paths = append(paths, path)
		}
		served[path] = append(served[path], method)
	}
	for _, path := range paths {
		methods := served[path]
		if slices.Contains(methods, "GET") {
			methods = append(methods, "HEAD")
		}
		slices.Sort(methods)
		allow := strings.Join(methods, ", ")
		for _, method := range routeMethods {
			if !slices.Contains(methods, method) {
				s.handle(m, method+" "+path, false, methodNotAllowed(allow))
			}
		}
	}
}

// tenantsError answers an error of the tenants service.
func (s *Server) tenantsError(w http.ResponseWriter, r *http.Request, err error, what string) {
	var es engine.Errors
	switch {
	case errors.As(err, &es):
		probs := make([]definitions.Problem, len(es))
		for i, e := range es {
			probs[i] = definitions.Problem{Pointer: e.Pointer, Message: e.Msg}
		}
		s.badRequest(w, r, "Invalid user", probs)
	case errors.Is(err, tenants.ErrForbidden):
		writeError(w, r, http.StatusForbidden, "Only an organization administrator may manage users")
	case errors.Is(err, engine.ErrNotFound):
		writeError(w, r, http.StatusNotFound, "No user found with id "+strconv.Quote(r.PathValue("id")))
	case strings.Contains(err.Error(), "already exists"):
		writeError(w, r, http.StatusConflict, "A user with this email already exists")
	default:
		s.internalError(w, r, what, err)
	}
}

func (s *Server) hasTenants(w http.ResponseWriter, r *http.Request) bool {
	if s.tenants == nil {
		writeError(w, r, http.StatusNotFound, "User management is not configured")
		return false
	}
	return true
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	if !s.hasTenants(w, r) {
		return
	}
	p := principal(r.Context())
	users, err := s.tenants.Users(r.Context(), &p, p.OrganizationID)
	if err != nil {
		s.tenantsError(w, r, err, "list users")
		return
	}
	out := make([]accountUserJSON, 0, len(users))
	for _, u := range users {
		out = append(out, viewUser(u))
	}
	writeJSON(w, http.StatusOK, out)
}

// userBody reads a user body: its fields, each checked for type; fields the route does not take
// are problems.
func (s *Server) userBody(w http.ResponseWriter, r *http.Request, fields ...string) (tenants.UserPatch, bool) {
	var patch tenants.UserPatch
	if !jsonContentType(r.Header.Get("Content-Type")) {
		writeError(w, r, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return patch, false
	}
	data, ok := s.readBody(w, r)
	if !ok {
		return patch, false
	}
	var probs []definitions.Problem
	if ps := definitions.CheckUTF8("body", data); ps != nil {
		s.badRequest(w, r, "Invalid user", ps)
		return patch, false
	}
	v, err := schemas.Decode(data)
	body, isObject := v.(map[string]any)
	if err != nil || !isObject {
		s.badRequest(w, r, "Invalid user", []definitions.Problem{{Message: "must be a JSON object with " + strings.Join(fields, ", ")}})
		return patch, false
	}
	str := func(k string) *string {
		raw, given := body[k]
		if !given {
			return nil
		}
		v, ok := raw.(string)
		if !ok {
			probs = append(probs, definitions.Problem{Pointer: engine.Pointer(k), Message: "must be a string"})
			return nil
		}
		return &v
	}
	for _, k := range slices.Sorted(maps.Keys(body)) {
		if !slices.Contains(fields, k) {
			probs = append(probs, definitions.Problem{Pointer: engine.Pointer(k), Message: "unknown field; this route takes " + strings.Join(fields, ", ")})
		}
	}
	patch.Email, patch.FirstName, patch.LastName = str("email"), str("firstName"), str("lastName")
	if raw, given := body["active"]; given {
		if b, ok := raw.(bool); ok {
			patch.Active = &b
		} else {
			probs = append(probs, definitions.Problem{Pointer: "/active", Message: "must be true or false"})
		}
	}
	if raw, given := body["roles"]; given {
		list, ok := raw.([]any)
		var key string
		if ok && len(list) == 1 {
			if m, isObj := list[0].(map[string]any); isObj {
				key, _ = m["key"].(string)
			}
		}
		switch role := engine.Role(key); {
		case key == "":
			probs = append(probs, definitions.Problem{Pointer: "/roles", Message: `must be one role: [{"key": "org-admin"}] or [{"key": "org"}]`})
		case role != engine.RoleOrgAdmin && role != engine.RoleUser:
			probs = append(probs, definitions.Problem{Pointer: "/roles/0/key", Message: fmt.Sprintf("%q is not a role; roles are org-admin and org", key)})
		default:
			role := engine.Role(key)
			patch.Role = &role
		}
	}
	if len(probs) > 0 {
		s.badRequest(w, r, "Invalid user", probs)
		return patch, false
	}
	return patch, true
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	if !s.hasTenants(w, r) {
		return
	}
	patch, ok := s.userBody(w, r, "email", "firstName", "lastName", "roles")
	if !ok {
		return
	}
	p := principal(r.Context())
	spec := tenants.UserSpec{OrganizationID: p.OrganizationID}
	if patch.Email != nil {
		spec.Email = *patch.Email
	}
	if patch.FirstName != nil {
		spec.FirstName = *patch.FirstName
	}
	if patch.LastName != nil {
		spec.LastName = *patch.LastName
	}
	if patch.Role != nil {
		spec.Role = *patch.Role
	}
	u, secret, err := s.tenants.CreateUser(r.Context(), &p, spec)
	if err != nil {
		s.tenantsError(w, r, err, "create user")
		return
	}
	s.log.Info("user created", "user", u.ID, "organization", u.OrganizationID, "role", u.Role, "by", p.UserID, "requestId", requestID(r.Context()))
	v := viewUser(u)
	v.Secret = secret
	writeJSON(w, http.StatusOK, v)
}

func userID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, r, http.StatusNotFound, "No user found with id "+strconv.Quote(r.PathValue("id")))
		return 0, false
	}
	return id, true
}

func (s *Server) getMe(w http.ResponseWriter, r *http.Request) {
	if !s.hasTenants(w, r) {
		return
	}
	p := principal(r.Context())
	u, err := s.tenants.User(r.Context(), &p, p.UserID)
	if err != nil {
		s.tenantsError(w, r, err, "read user")
		return
	}
	writeJSON(w, http.StatusOK, viewUser(u))
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	if !s.hasTenants(w, r) {
		return
	}
	id, ok := userID(w, r)
	if !ok {
		return
	}
	p := principal(r.Context())
	u, err := s.tenants.User(r.Context(), &p, id)
	if err != nil {
		s.tenantsError(w, r, err, "read user")
		return
	}
	writeJSON(w, http.StatusOK, viewUser(u))
}

func (s *Server) patchUser(w http.ResponseWriter, r *http.Request) {
	if !s.hasTenants(w, r) {
		return
	}
	id, ok := userID(w, r)
	if !ok {
		return
	}
	patch, ok := s.userBody(w, r, "email", "firstName", "lastName", "roles", "active")
	if !ok {
		return
	}
	p := principal(r.Context())
	u, err := s.tenants.UpdateUser(r.Context(), &p, id, patch)
	if err != nil {
		s.tenantsError(w, r, err, "update user")
		return
	}
	s.log.Info("user updated", "user", u.ID, "active", u.Active, "role", u.Role, "by", p.UserID, "requestId", requestID(r.Context()))
	writeJSON(w, http.StatusOK, viewUser(u))
}

func (s *Server) rotateUserSecret(w http.ResponseWriter, r *http.Request) {
	if !s.hasTenants(w, r) {
		return
	}
	id, ok := userID(w, r)
	if !ok || !s.noBody(w, r) {
		return
	}
	p := principal(r.Context())
	if p.InstanceID != 0 {
		s.tenantsError(w, r, tenants.ErrForbidden, "")
		return
	}
	secret, err := s.tenants.RotateUserSecret(r.Context(), &p, id)
	if err != nil {
		s.tenantsError(w, r, err, "rotate user secret")
		return
	}
	s.log.Info("user secret rotated", "user", id, "by", p.UserID, "requestId", requestID(r.Context()))
	writeJSON(w, http.StatusOK, secretJSON{Secret: secret})
}

func (s *Server) rotateOrganizationSecret(w http.ResponseWriter, r *http.Request) {
	if !s.hasTenants(w, r) || !s.noBody(w, r) {
		return
	}
	p := principal(r.Context())
	secret, err := s.tenants.RotateOrganizationSecret(r.Context(), &p, p.OrganizationID)
	if err != nil {
		s.tenantsError(w, r, err, "rotate organization secret")
		return
	}
	s.log.Info("organization secret rotated", "organization", p.OrganizationID, "by", p.UserID, "requestId", requestID(r.Context()))
	writeJSON(w, http.StatusOK, secretJSON{Secret: secret})
}
