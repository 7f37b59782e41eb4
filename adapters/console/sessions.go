package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"github.com/pollen-hq/pollen/engine"
	"net/http"
	"sync"
	"time"
)

// CookieName is the session cookie: HttpOnly, SameSite=Strict, Path=/, Secure over TLS.
const CookieName = "pollen_session"

// CSRFHeader carries a session's CSRF token on every API request the console's pages make.
const CSRFHeader = "X-Pollen-CSRF"

// SessionOptions configures Sessions. Zero values select the defaults noted.
type SessionOptions struct {
	// Lifetime ends a session this long after sign-in, however busy; 0 = 12 hours.
	Lifetime time.Duration
	// IdleTimeout ends a session unused this long; 0 = 1 hour. An open console page keeps its
	// session in use.
	IdleTimeout time.Duration
	// Now is the clock; nil = time.Now.
	Now func() time.Time
}

// Sessions keeps the console's signed-in sessions and one-time sign-in links, in memory: a
// restart signs everyone out. Only digests of cookie values and link tokens are kept, so the
// map's contents cannot be replayed. It is safe for concurrent use. It implements
// api.SessionAuthenticator.
type Sessions struct {
	lifetime, idle time.Duration
	now            func() time.Time

	mu       sync.Mutex
	sessions map[[sha256.Size]byte]*session
	links    map[[sha256.Size]byte]link
}

// session is one signed-in browser.
type session struct {
	principal Principal
	csrf      string
	expires   time.Time // absolute
	lastSeen  time.Time
}

// link is a one-time sign-in link.
type link struct {
	principal Principal
	expires   time.Time
}

// NewSessions builds an empty session store.
func NewSessions(opts SessionOptions) *Sessions {
	s := &Sessions{lifetime: opts.Lifetime, idle: opts.IdleTimeout, now: opts.Now,
		sessions: map[[sha256.Size]byte]*session{}, links: map[[sha256.Size]byte]link{}}
	if s.lifetime <= 0 {
		s.lifetime = 12 * time.Hour
	}
	if s.idle <= 0 {
		s.idle = time.Hour
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// start creates a session for p and returns its cookie value. Expired sessions and links are
// swept at the same time, so the maps never hold more than the live ones and those that expired
// since the last sign-in.
func (s *Sessions) start(p Principal) (cookie string, ss session) {
	cookie = randomToken()
	now := s.now()
	ss = session{principal: p, csrf: randomToken(), expires: now.Add(s.lifetime), lastSeen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.sessions {
		if !s.alive(v, now) {
			delete(s.sessions, k)
		}
	}
	for k, v := range s.links {
		if !now.Before(v.expires) {
			delete(s.links, k)
		}
	}
	s.sessions[digest(cookie)] = &ss
	return cookie, ss
}

// alive reports whether a session is within its lifetime and idle timeout. s.mu is held.
func (s *Sessions) alive(v *session, now time.Time) bool {
	return now.Before(v.expires) && now.Sub(v.lastSeen) < s.idle
}

// lookup returns the live session r's cookie names, and marks it used.
func (s *Sessions) lookup(r *http.Request) (session, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return session{}, false
	}
	k := digest(c.Value)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.sessions[k]
	if !ok {
		return session{}, false
	}
	if !s.alive(v, now) {
		delete(s.sessions, k)
		return session{}, false
	}
	v.lastSeen = now
	return *v, true
}

// end deletes the session r's cookie names, if any.
func (s *Sessions) end(r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		s.mu.Lock()
		delete(s.sessions, digest(c.Value))
		s.mu.Unlock()
	}
}

// SessionUser returns the id of the principal of r's live session, when r also carries that
// session's CSRF token in the CSRFHeader header.
func (s *Sessions) SessionUser(r *http.Request) (string, bool) {
	p, ok := s.principal(r)
	return p.ID, ok
}

// Principal is the API's seam (api.HeaderAuthenticator.Session): the principal r's live session
// acts for, when r also carries that session's CSRF token in the CSRFHeader header.
func (s *Sessions) Principal(r *http.Request) (engine.Principal, bool) {
	p, ok := s.principal(r)
	return p.As, ok
}

func (s *Sessions) principal(r *http.Request) (Principal, bool) {
	ss, ok := s.lookup(r)
	if !ok || !sameToken(r.Header.Get(CSRFHeader), ss.csrf) {
		return Principal{}, false
	}
	return ss.principal, true
}

// SignInLink returns the path and query of a link that signs a browser in as p once, within ttl:
// what `pollen demo` prints. Append it to the server's base URL.
func (s *Sessions) SignInLink(p Principal, ttl time.Duration) string {
	token := randomToken()
	s.mu.Lock()
	s.links[digest(token)] = link{principal: p, expires: s.now().Add(ttl)}
	s.mu.Unlock()
	return signInPath + "?once=" + token
}

// redeem uses up a one-time link token.
func (s *Sessions) redeem(token string) (Principal, bool) {
	k := digest(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[k]
	delete(s.links, k)
	if !ok || !s.now().Before(l.expires) {
		return Principal{}, false
	}
	return l.principal, true
}

// randomToken returns 32 random bytes, base64url without padding.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func digest(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

// sameToken compares two tokens in constant time; an empty one never matches.
func sameToken(got, want string) bool {
	if got == "" || want == "" {
		return false
	}
	g, w := digest(got), digest(want)
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
