package console

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/tenants"
)

// The console's own paths. Every other path is the API's.
const (
	assetsPath  = "/console/assets/"
	signInPath  = "/console/signin"
	signOutPath = "/console/signout"
	checkPath   = "/console/check"
)

//go:embed assets
var assets embed.FS

// Options configures a Console.
type Options struct {
	// API serves every path that is not the console's: the JSON API its pages call. Required.
	API http.Handler
	// Sessions keeps the signed-in sessions; its Principal must be the API's session seam
	// (api.HeaderAuthenticator.Session). Required.
	Sessions *Sessions
	// Accounts checks sign-in credentials. Required.
	Accounts Accounts
	// Catalog returns the current catalog, against which POST /console/check loads the instance
	// body a form would send. nil = that route answers 404 and forms check only on submit.
	Catalog func() *engine.Catalog
	// Throttle counts failed sign-ins per client address, as the API counts failed
	// authentications (the same value shares the count); nil = a throttle of the console's own.
	Throttle *tenants.Throttle
	// Logger; nil = no logging. Secrets never reach it.
	Logger hclog.Logger
}

// Console serves the web console at / and its assets, sign-in and sign-out under /console/,
// and hands every other request to the API. It is an http.Handler, safe for concurrent use.
type Console struct {
	api      http.Handler
	sessions *Sessions
	accounts Accounts
	catalog  func() *engine.Catalog
	throttle *tenants.Throttle
	log      hclog.Logger
	pages    *template.Template
	static   http.Handler
	cop      *http.CrossOriginProtection
	mux      *http.ServeMux
}

// New builds a Console.
func New(opts Options) (*Console, error) {
	switch {
	case opts.API == nil:
		return nil, errors.New("console: Options.API is required")
	case opts.Sessions == nil:
		return nil, errors.New("console: Options.Sessions is required")
	case opts.Accounts == nil:
		return nil, errors.New("console: Options.Accounts is required")
	}
	pages, err := template.ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "assets/static")
	if err != nil {
		return nil, err
	}
	c := &Console{api: opts.API, sessions: opts.Sessions, accounts: opts.Accounts, catalog: opts.Catalog,
		throttle: opts.Throttle, log: opts.Logger, pages: pages, static: http.StripPrefix(assetsPath, http.FileServerFS(static)),
		cop: http.NewCrossOriginProtection()}
	if c.throttle == nil {
		c.throttle = tenants.NewThrottle(tenants.ThrottleOptions{})
	}
	if c.log == nil {
		c.log = hclog.NewNullLogger()
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", c.index)
	m.HandleFunc("GET "+assetsPath, c.asset)
	m.HandleFunc("GET "+signInPath, c.signInLink)
	m.HandleFunc("POST "+signInPath, c.signIn)
	m.HandleFunc("POST "+signOutPath, c.signOut)
	m.HandleFunc("POST "+checkPath, c.check)
	m.HandleFunc("/console/", c.notFound)
	m.Handle("/", c.api)
	c.mux = m
	return c, nil
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.mux.ServeHTTP(w, r) }

// index serves /: the console for a signed-in browser, the sign-in page otherwise.
func (c *Console) index(w http.ResponseWriter, r *http.Request) {
	ss, ok := c.sessions.lookup(r)
	if !ok {
		notice := ""
		if r.URL.Query().Has("signedout") {
			notice = "You are signed out."
		}
		c.page(w, http.StatusOK, "signin.html", signInData{Notice: notice})
		return
	}
	c.page(w, http.StatusOK, "index.html", indexData{User: ss.principal.Name, CSRF: ss.csrf})
}

type indexData struct {
	User string
	CSRF string
}

type signInData struct {
	Error, Notice string
}

// page renders one of the HTML pages with the headers every page gets.
func (c *Console) page(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := c.pages.ExecuteTemplate(&buf, name, data); err != nil {
		c.log.Error("rendering a console page", "page", name, "error", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// securityHeaders are set on every page and asset: scripts, styles and connections from this
// origin only, no framing, no referrer (a one-time sign-in link never leaks through one).
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// asset serves the embedded scripts, styles and images; never a directory listing.
func (c *Console) asset(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/") {
		c.notFound(w, r)
		return
	}
	securityHeaders(w.Header())
	w.Header().Set("Cache-Control", "no-cache")
	c.static.ServeHTTP(w, r)
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	http.Error(w, "No such page: "+r.URL.Path, http.StatusNotFound)
}

// signIn serves POST /console/signin: the sign-in form's User and Organization secrets.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	if err := c.cop.Check(r); err != nil {
		c.forbidden(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		c.page(w, http.StatusBadRequest, "signin.html", signInData{Error: "The sign-in form could not be read."})
		return
	}
	user, org := strings.TrimSpace(r.PostForm.Get("user")), strings.TrimSpace(r.PostForm.Get("organization"))
	if user == "" || org == "" {
		c.page(w, http.StatusBadRequest, "signin.html", signInData{Error: "Enter both the User secret and the Organization secret."})
		return
	}
	client := clientAddress(r)
	if ok, wait := c.throttle.Allow(client, time.Now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		c.page(w, http.StatusTooManyRequests, "signin.html", signInData{Error: "Too many failed sign-ins from this address; try again in a minute."})
		return
	}
	p, err := c.accounts.SignIn(r.Context(), user, org)
	if err != nil {
		c.throttle.Fail(client, time.Now())
		if !errors.Is(err, ErrSignIn) {
			c.log.Error("sign-in failed", "error", err)
		}
		c.log.Info("sign-in refused", "remote", r.RemoteAddr)
		c.page(w, http.StatusUnauthorized, "signin.html", signInData{Error: "Those secrets were not accepted. Check the User and Organization secrets and try again."})
		return
	}
	c.startSession(w, r, p, "form")
}

// signInLink serves GET /console/signin?once=TOKEN, a one-time link (Sessions.SignInLink).
// Without a token it sends the browser to /.
func (c *Console) signInLink(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("once")
	if token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	p, ok := c.sessions.redeem(token)
	if !ok {
		c.page(w, http.StatusUnauthorized, "signin.html", signInData{Error: "This sign-in link has expired or was already used. Sign in with your secrets."})
		return
	}
	c.startSession(w, r, p, "link")
}

// startSession replaces r's session, if any, with a new one for p, and sends the browser to /.
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, p Principal, how string) {
	c.sessions.end(r)
	value, ss := c.sessions.start(p)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: value, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, Expires: ss.expires})
	c.log.Info("signed in", "principal", p.ID, "how", how, "remote", r.RemoteAddr)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// signOut serves POST /console/signout: the form carries the session's CSRF token.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	if err := c.cop.Check(r); err != nil {
		c.forbidden(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	_ = r.ParseForm()
	ss, ok := c.sessions.lookup(r)
	if ok && !sameToken(r.PostForm.Get("csrf"), ss.csrf) {
		c.forbidden(w, r, errors.New("sign-out without the session's CSRF token"))
		return
	}
	if ok {
		c.sessions.end(r)
		c.log.Info("signed out", "principal", ss.principal.ID)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: -1, Expires: time.Unix(0, 0)})
	http.Redirect(w, r, "/?signedout", http.StatusSeeOther)
}

func (c *Console) forbidden(w http.ResponseWriter, r *http.Request, err error) {
	c.log.Warn("cross-origin request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "error", err)
	securityHeaders(w.Header())
	http.Error(w, "Cross-origin request refused", http.StatusForbidden)
}

// clientAddress is the address failed sign-ins are counted by: the connection's remote host.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
