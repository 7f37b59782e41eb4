package api

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/instances"
	"github.com/pollen-hq/pollen/engine/tenants"
)

// Authenticator turns a request into the principal it acts for. It is the one seam between the
// API's routes and how callers prove who they are: HeaderAuthenticator reads the platform's
// Authorization header; the web console's session cookie plugs in beside it.
//
// Authenticate returns ErrNoCredentials when the request carries none it understands (401, not
// counted as a failed attempt), and tenants.ErrUnauthenticated or instances.ErrBadToken when the
// credentials are wrong (401, counted by the throttle of failed attempts per client address).
type Authenticator interface {
	Authenticate(r *http.Request) (engine.Principal, error)
}

// AuthenticatorFunc is a function that is an Authenticator.
type AuthenticatorFunc func(r *http.Request) (engine.Principal, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(r *http.Request) (engine.Principal, error) { return f(r) }

// ErrNoCredentials: the request carries no credentials the Authenticator understands.
var ErrNoCredentials = errors.New("no credentials")

// HeaderAuthenticator authenticates the platform's header,
//
//	Authorization: User <user secret>, Organization <organization secret>[, Element <token>]
//
// (parts in any order, scheme words case-insensitive). An Element token narrows the principal to
// that instance, which the user must see.
//
// With Session set, a signed-in session of the web console (its cookie and CSRF header) stands in
// for the User and Organization secrets when the header is absent or holds only an Element token;
// a header that carries secrets is never overridden by a session.
type HeaderAuthenticator struct {
	Tenants   *tenants.Service
	Instances *instances.Service
	// Session, when set, returns the principal of the request's live console session.
	Session func(r *http.Request) (engine.Principal, bool)
}

// Authenticate implements Authenticator.
func (a *HeaderAuthenticator) Authenticate(r *http.Request) (engine.Principal, error) {
	header := r.Header.Get("Authorization")
	c, ok := parseAuthorization(header)
	var p engine.Principal
	switch {
	case a.Session != nil && (strings.TrimSpace(header) == "" || ok && c.user == "" && c.org == ""):
		sp, signedIn := a.Session(r)
		if !signedIn {
			return engine.Principal{}, ErrNoCredentials
		}
		p = sp
	case !ok || c.user == "" || c.org == "":
		return engine.Principal{}, ErrNoCredentials
	default:
		var err error
		if p, err = a.Tenants.Authenticate(r.Context(), c.user, c.org); err != nil {
			return engine.Principal{}, err
		}
	}
	if c.element != "" {
		return a.Instances.Narrow(r.Context(), p, c.element)
	}
	return p, nil
}

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

type principalKey struct{}

// principal returns the principal authed put in the request's context.
func principal(ctx context.Context) engine.Principal {
	p, _ := ctx.Value(principalKey{}).(engine.Principal)
	return p
}

// hasElement reports whether the request carried an Element token (the principal is narrowed to
// one instance).
func hasElement(ctx context.Context) bool { return principal(ctx).InstanceID != 0 }

// clientAddress is the address failed attempts are counted by: the connection's remote host.
// Behind a proxy every client shares its address; put the throttle in the proxy then.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

const authHelp = "Authorization must be: User <user secret>, Organization <organization secret>"

// authed wraps h so that it runs only for authenticated requests, with the principal in the
// request context. A client address that failed too often recently is answered 429 before its
// credentials are looked at.
func (s *Server) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.authenticate(w, r, authHelp)
		if !ok {
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// authenticate runs the Authenticator under the throttle; it answers 429, 401 or 500 itself and
// then returns false.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, help string) (engine.Principal, bool) {
	client := clientAddress(r)
	if ok, wait := s.throttle.Allow(client, s.now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeError(w, r, http.StatusTooManyRequests, "Too many failed authentications from this address; try again later")
		return engine.Principal{}, false
	}
	p, err := s.auth.Authenticate(r)
	unauthorized := func(msg string) {
		w.Header().Set("WWW-Authenticate", `User realm="pollen", Organization realm="pollen"`)
		writeError(w, r, http.StatusUnauthorized, msg)
	}
	switch {
	case err == nil:
		return p, true
	case errors.Is(err, ErrNoCredentials):
		unauthorized(help)
	case errors.Is(err, tenants.ErrUnauthenticated):
		s.throttle.Fail(client, s.now())
		unauthorized("Invalid user or organization secret")
	case errors.Is(err, instances.ErrBadToken):
		s.throttle.Fail(client, s.now())
		unauthorized("Invalid element token: no instance of yours has it")
	default:
		s.internalError(w, r, "authenticate", err)
	}
	return engine.Principal{}, false
}
