package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// credentials are the parts of an Authorization header:
// "User <secret>, Organization <secret>[, Element <token>]".
type credentials struct {
	user, org, element string
}

// parseAuthorization splits an Authorization header into its parts. Parts are separated by commas
// and may come in any order; scheme words are case-insensitive; spaces around parts and between a
// word and its value are tolerated. A part that is empty, has no value, has an unknown scheme
// word or repeats one makes the whole header malformed (ok false).
func parseAuthorization(h string) (c credentials, ok bool) {
	if strings.TrimSpace(h) == "" {
		return c, false
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(h, ",") {
		part = strings.TrimSpace(part)
		i := strings.IndexAny(part, " \t")
		if i < 0 {
			return credentials{}, false
		}
		word, value := strings.ToLower(part[:i]), strings.TrimSpace(part[i:])
		if value == "" {
			return credentials{}, false
		}
		if seen[word] {
			return credentials{}, false
		}
		seen[word] = true
		switch word {
		case "user":
			c.user = value
		case "organization":
			c.org = value
		case "element":
			c.element = value
		default:
			return credentials{}, false
		}
	}
	return c, true
}

type elementTokenKey struct{}

// elementToken returns the Element token of the request's Authorization header, if it had one.
func elementToken(ctx context.Context) (string, bool) {
	t, ok := ctx.Value(elementTokenKey{}).(string)
	return t, ok && t != ""
}

// SessionAuthenticator accepts a signed-in session of the web console (adapters/console) in place
// of the User and Organization secrets, so that the console's pages call this API with their
// session cookie and a CSRF header instead of holding the secrets.
type SessionAuthenticator interface {
	// SessionUser returns the id of the principal whose session r carries; ok is false unless r
	// carries a live session and the CSRF token that goes with it.
	SessionUser(r *http.Request) (id string, ok bool)
}

// authed wraps h so that it runs only for requests carrying the User and Organization secrets, or
// (Options.Sessions) a console session, with an Authorization header that is absent or holds
// only an Element token. The Element token, when present, is put in the request context.
func (s *Server) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		c, ok := parseAuthorization(header)
		if s.sessions != nil && (header == "" || ok && c.user == "" && c.org == "") {
			if _, signedIn := s.sessions.SessionUser(r); signedIn {
				if c.element != "" {
					r = r.WithContext(context.WithValue(r.Context(), elementTokenKey{}, c.element))
				}
				h(w, r)
				return
			}
		}
		if !ok || c.user == "" || c.org == "" {
			w.Header().Set("WWW-Authenticate", `User realm="pollen", Organization realm="pollen"`)
			writeError(w, r, http.StatusUnauthorized, "Authorization must be: User <user secret>, Organization <organization secret>")
			return
		}
		// Compare digests so that neither the content nor the length of a secret shows in timing.
		u := sha256.Sum256([]byte(c.user))
		o := sha256.Sum256([]byte(c.org))
		userOK := subtle.ConstantTimeCompare(u[:], s.userSum[:])
		orgOK := subtle.ConstantTimeCompare(o[:], s.orgSum[:])
		if userOK&orgOK != 1 {
			w.Header().Set("WWW-Authenticate", `User realm="pollen", Organization realm="pollen"`)
			writeError(w, r, http.StatusUnauthorized, "Invalid user or organization secret")
			return
		}
		if c.element != "" {
			r = r.WithContext(context.WithValue(r.Context(), elementTokenKey{}, c.element))
		}
		h(w, r)
	})
}
