package console

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
)

const (
	userSecret = "user-SECRET-1234"
	orgSecret  = "org-SECRET-5678"
)

// clock is a fake clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeAPI answers every request with the principal of its session, as the API's hook would see it.
type fakeAPI struct{ sessions *Sessions }

func (f fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := f.sessions.SessionUser(r)
	if !ok {
		http.Error(w, "api: not signed in", http.StatusUnauthorized)
		return
	}
	io.WriteString(w, "api: "+r.Method+" "+r.URL.Path+" as "+id)
}

type harness struct {
	t        *testing.T
	c        *Console
	sessions *Sessions
	clock    *clock
	logs     *bytes.Buffer
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	sessions := NewSessions(SessionOptions{Now: clk.Now, Lifetime: 8 * time.Hour, IdleTimeout: 30 * time.Minute})
	cat, probs := definitions.Compile(definitions.Builtin())
	if len(probs) > 0 {
		t.Fatal(definitions.Describe(probs))
	}
	logs := &bytes.Buffer{}
	c, err := New(Options{API: fakeAPI{sessions}, Sessions: sessions,
		Accounts: SingleAccount{User: userSecret, Organization: orgSecret, Principal: Principal{ID: "7", Name: "ada"}},
		Catalog:  func() *engine.Catalog { return cat },
		Logger:   hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, c: c, sessions: sessions, clock: clk, logs: logs}
}

// do serves one request; cookie, when not nil, is sent; header adds headers.
func (h *harness) do(method, target string, body io.Reader, cookie *http.Cookie, header map[string]string) *http.Response {
	h.t.Helper()
	r := httptest.NewRequest(method, target, body)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.c.ServeHTTP(w, r)
	return w.Result()
}

func (h *harness) signIn(user, org string, header map[string]string) *http.Response {
	h.t.Helper()
	form := url.Values{"user": {user}, "organization": {org}}
	if header == nil {
		header = map[string]string{}
	}
	header["Content-Type"] = "application/x-www-form-urlencoded"
	return h.do("POST", "/console/signin", strings.NewReader(form.Encode()), nil, header)
}

// session signs in and returns the session cookie and its CSRF token (from the page's meta tag).
func (h *harness) session() (*http.Cookie, string) {
	h.t.Helper()
	res := h.signIn(userSecret, orgSecret, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		h.t.Fatalf("sign-in: %s, Location %q", res.Status, res.Header.Get("Location"))
	}
	cookie := sessionCookie(h.t, res)
	return cookie, h.csrf(cookie)
}

func (h *harness) csrf(cookie *http.Cookie) string {
	h.t.Helper()
	res := h.do("GET", "/", nil, cookie, nil)
	body := readAll(h.t, res)
	m := regexp.MustCompile(`<meta name="pollen-csrf" content="([^"]+)">`).FindStringSubmatch(body)
	if res.StatusCode != 200 || m == nil {
		h.t.Fatalf("GET / signed in: %s, no CSRF meta tag:\n%s", res.Status, body)
	}
	return m[1]
}

func sessionCookie(t *testing.T, res *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range res.Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	t.Fatalf("no %s cookie set: %v", CookieName, res.Header["Set-Cookie"])
	return nil
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSignInPageWhenSignedOut(t *testing.T) {
	h := newHarness(t)
	res := h.do("GET", "/", nil, nil, nil)
	body := readAll(t, res)
	if res.StatusCode != 200 || !strings.Contains(body, `<label for="user">User secret</label>`) ||
		!strings.Contains(body, `<label for="organization">Organization secret</label>`) {
		t.Fatalf("GET / signed out: %s\n%s", res.Status, body)
	}
	if strings.Contains(body, "pollen-csrf") {
		t.Error("the sign-in page carries a CSRF token")
	}
	for k, want := range map[string]string{"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

func TestSignIn(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct{ user, org string }{{userSecret, "wrong"}, {"wrong", orgSecret}, {"", ""}, {userSecret, ""}} {
		res := h.signIn(tc.user, tc.org, nil)
		if res.StatusCode == http.StatusSeeOther || len(res.Cookies()) > 0 {
			t.Errorf("sign-in with %q/%q: %s, cookies %v", tc.user, tc.org, res.Status, res.Cookies())
		}
		if body := readAll(t, res); !strings.Contains(body, `role="alert"`) {
			t.Errorf("sign-in with %q/%q shows no error:\n%s", tc.user, tc.org, body)
		}
	}

	res := h.signIn(userSecret, orgSecret, nil)
	c := sessionCookie(t, res)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure || len(c.Value) < 40 {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP, a long random value", c)
	}
	if !c.Expires.Equal(h.clock.Now().Add(8 * time.Hour).Truncate(time.Second)) {
		t.Errorf("cookie expires %v, want the session's lifetime", c.Expires)
	}
	csrf := h.csrf(c)
	if page := readAll(t, h.do("GET", "/", nil, c, nil)); !strings.Contains(page, "ada") {
		t.Error("the console page does not name the principal")
	}

	// The API takes the session with its CSRF header, and only then.
	for _, tc := range []struct {
		name   string
		cookie *http.Cookie
		csrf   string
		want   int
	}{
		{"cookie and CSRF header", c, csrf, 200},
		{"cookie without CSRF header", c, "", 401},
		{"cookie with a wrong CSRF header", c, csrf + "x", 401},
		{"CSRF header without cookie", nil, csrf, 401},
		{"unknown cookie", &http.Cookie{Name: CookieName, Value: "forged"}, csrf, 401},
	} {
		res := h.do("GET", "/instances", nil, tc.cookie, map[string]string{CSRFHeader: tc.csrf})
		if res.StatusCode != tc.want {
			t.Errorf("%s: %s, want %d", tc.name, res.Status, tc.want)
		}
	}
	if body := readAll(t, h.do("GET", "/instances", nil, c, map[string]string{CSRFHeader: csrf})); body != "api: GET /instances as 7" {
		t.Errorf("API saw %q", body)
	}

	// Signing in again replaces the session.
	res = h.do("POST", "/console/signin", strings.NewReader(url.Values{"user": {userSecret}, "organization": {orgSecret}}.Encode()),
		c, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	c2 := sessionCookie(t, res)
	if c2.Value == c.Value {
		t.Error("a new sign-in kept the old session value")
	}
	if res := h.do("GET", "/instances", nil, c, map[string]string{CSRFHeader: csrf}); res.StatusCode != 401 {
		t.Errorf("the replaced session still works: %s", res.Status)
	}

	logs := h.logs.String()
	if strings.Contains(logs, userSecret) || strings.Contains(logs, orgSecret) || strings.Contains(logs, c.Value) || strings.Contains(logs, csrf) {
		t.Errorf("a secret or a session token in the logs:\n%s", logs)
	}
}

func TestSessionExpiry(t *testing.T) {
	h := newHarness(t)
	apiOK := func(c *http.Cookie, csrf string) bool {
		return h.do("GET", "/instances", nil, c, map[string]string{CSRFHeader: csrf}).StatusCode == 200
	}

	// Idle: 30 minutes unused ends it; use keeps it alive.
	c, csrf := h.session()
	h.clock.advance(29 * time.Minute)
	if !apiOK(c, csrf) {
		t.Fatal("session ended before its idle timeout")
	}
	h.clock.advance(29 * time.Minute)
	if !apiOK(c, csrf) {
		t.Fatal("a session in use ended")
	}
	h.clock.advance(30 * time.Minute)
	if apiOK(c, csrf) {
		t.Error("a session unused for its idle timeout still works")
	}
	if res := h.do("GET", "/", nil, c, nil); !strings.Contains(readAll(t, res), "User secret") {
		t.Error("an ended session still gets the console page")
	}

	// Lifetime: 8 hours end it, however busy.
	c, csrf = h.session()
	for i := 0; i < 16; i++ {
		h.clock.advance(29 * time.Minute)
		if i < 15 && !apiOK(c, csrf) {
			t.Fatalf("session ended after %v", time.Duration(i+1)*29*time.Minute)
		}
	}
	h.clock.advance(30 * time.Minute)
	if apiOK(c, csrf) {
		t.Error("a session past its lifetime still works")
	}
}

func TestSignOut(t *testing.T) {
	h := newHarness(t)
	c, csrf := h.session()
	form := func(v string) io.Reader { return strings.NewReader(url.Values{"csrf": {v}}.Encode()) }
	ct := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}

	if res := h.do("POST", "/console/signout", form("wrong"), c, ct); res.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out without the CSRF token: %s", res.Status)
	}
	res := h.do("POST", "/console/signout", form(csrf), c, ct)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/?signedout" {
		t.Fatalf("sign-out: %s to %q", res.Status, res.Header.Get("Location"))
	}
	if gone := sessionCookie(t, res); gone.MaxAge >= 0 || gone.Value != "" {
		t.Errorf("sign-out does not clear the cookie: %+v", gone)
	}
	if res := h.do("GET", "/instances", nil, c, map[string]string{CSRFHeader: csrf}); res.StatusCode != 401 {
		t.Errorf("the session works after sign-out: %s", res.Status)
	}
	if body := readAll(t, h.do("GET", "/?signedout", nil, nil, nil)); !strings.Contains(body, "You are signed out.") {
		t.Error("no signed-out notice")
	}
}

func TestCrossOriginFormsRefused(t *testing.T) {
	h := newHarness(t)
	cross := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
	if res := h.signIn(userSecret, orgSecret, cross); res.StatusCode != http.StatusForbidden || len(res.Cookies()) > 0 {
		t.Errorf("cross-site sign-in: %s, cookies %v", res.Status, res.Cookies())
	}
	same := map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"}
	if res := h.signIn(userSecret, orgSecret, same); res.StatusCode != http.StatusSeeOther {
		t.Errorf("same-origin sign-in: %s", res.Status)
	}
	c, csrf := h.session()
	res := h.do("POST", "/console/signout", strings.NewReader("csrf="+csrf), c,
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site sign-out: %s", res.Status)
	}
}

func TestSignInLink(t *testing.T) {
	h := newHarness(t)
	p := Principal{ID: "9", Name: "demo"}
	link := h.sessions.SignInLink(p, time.Minute)
	if !strings.HasPrefix(link, "/console/signin?once=") {
		t.Fatalf("link %q", link)
	}
	res := h.do("GET", link, nil, nil, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("link: %s", res.Status)
	}
	c := sessionCookie(t, res)
	csrf := h.csrf(c)
	if body := readAll(t, h.do("GET", "/x", nil, c, map[string]string{CSRFHeader: csrf})); body != "api: GET /x as 9" {
		t.Errorf("signed in by link as %q", body)
	}
	if res := h.do("GET", link, nil, nil, nil); res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) > 0 {
		t.Errorf("the link used twice: %s", res.Status)
	}
	late := h.sessions.SignInLink(p, time.Minute)
	h.clock.advance(time.Minute)
	if res := h.do("GET", late, nil, nil, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("an expired link: %s", res.Status)
	}
	if res := h.do("GET", "/console/signin", nil, nil, nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("GET /console/signin without a token: %s", res.Status)
	}
}

func TestAssetsAndRouting(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		path, contentType string
		status            int
	}{
		{"/console/assets/app.js", "text/javascript", 200},
		{"/console/assets/style.css", "text/css", 200},
		{"/console/assets/vendor/lit-html/lit-html.js", "text/javascript", 200},
		{"/console/assets/pollen.svg", "image/svg+xml", 200},
		{"/console/assets/", "", 404},
		{"/console/assets/vendor/", "", 404},
		{"/console/assets/nope.js", "", 404},
		{"/console/whatever", "", 404},
	} {
		res := h.do("GET", tc.path, nil, nil, nil)
		if res.StatusCode != tc.status || !strings.HasPrefix(res.Header.Get("Content-Type"), tc.contentType) {
			t.Errorf("GET %s: %s %q", tc.path, res.Status, res.Header.Get("Content-Type"))
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", tc.path)
		}
	}
	// Every other path, and / with another method, is the API's.
	for _, p := range []string{"/instances", "/healthz", "/hubs/helpdesk/incidents", "/consolex"} {
		if body := readAll(t, h.do("GET", p, nil, nil, nil)); body != "api: not signed in\n" {
			t.Errorf("GET %s did not reach the API: %q", p, body)
		}
	}
	if body := readAll(t, h.do("POST", "/", nil, nil, nil)); body != "api: not signed in\n" {
		t.Errorf("POST / did not reach the API: %q", body)
	}
}

func TestCheck(t *testing.T) {
	h := newHarness(t)
	body := `{"element": {"key": "freshdeskv2"}, "name": "x", "configuration": {
		"event.poller.refresh_interval": "-1",
		"event.poller.configuration": {"incidents": {"url": "/hubs/helpdesk/incidents", "idField": 5}}}}`
	if res := h.do("POST", "/console/check", strings.NewReader(body), nil, nil); res.StatusCode != 401 {
		t.Errorf("check without a session: %s", res.Status)
	}
	c, csrf := h.session()
	if res := h.do("POST", "/console/check", strings.NewReader(body), c, nil); res.StatusCode != 401 {
		t.Errorf("check without the CSRF header: %s", res.Status)
	}
	res := h.do("POST", "/console/check", strings.NewReader(body), c, map[string]string{CSRFHeader: csrf})
	var out struct {
		Problems []checkProblem `json:"problems"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 {
		t.Fatalf("check: %s %v", res.Status, err)
	}
	var pointers []string
	for _, p := range out.Problems {
		pointers = append(pointers, p.Pointer)
	}
	if !strings.Contains(strings.Join(pointers, " "), "/configuration/event.poller.configuration/incidents/idField") {
		t.Errorf("problems %+v: want the idField of incidents", out.Problems)
	}
	good := `{"element": {"key": "freshdeskv2"}, "name": "x", "configuration": {"subdomain": "a", "username": "k",
		"event.poller.configuration": {"incidents": {}}}}`
	res = h.do("POST", "/console/check", strings.NewReader(good), c, map[string]string{CSRFHeader: csrf})
	if b := readAll(t, res); strings.TrimSpace(b) != `{"problems":[]}` {
		t.Errorf("a good body: %s", b)
	}
}

func TestSingleAccount(t *testing.T) {
	a := SingleAccount{User: "u", Organization: "o", Principal: Principal{ID: "1"}}
	if p, err := a.SignIn(t.Context(), "u", "o"); err != nil || p.ID != "1" {
		t.Errorf("right secrets: %v %v", p, err)
	}
	for _, tc := range [][2]string{{"u", "x"}, {"x", "o"}, {"o", "u"}, {"", ""}} {
		if _, err := a.SignIn(t.Context(), tc[0], tc[1]); err != ErrSignIn {
			t.Errorf("%q/%q: %v", tc[0], tc[1], err)
		}
	}
	if _, err := (SingleAccount{}).SignIn(t.Context(), "", ""); err != ErrSignIn {
		t.Error("an account without secrets accepts empty ones")
	}
}
