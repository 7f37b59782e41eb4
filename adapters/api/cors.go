package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/cors"
)

// CORS lets the scripts of browser front ends on other origins (the web console served apart,
// customers' own pages) call the API. rs/cors answers preflights and sets the headers; this file
// chooses its options:
//
//   - Listed origins are allowed with credentials (the console's session cookie): the answer
//     names the request's origin, never "*", and says Vary: Origin.
//   - "*" allows every origin, without credentials: the answer is "*" and no
//     Access-Control-Allow-Credentials, so a browser never sends cookies along. Scripts then
//     authenticate with the Authorization header, as any client.
//   - Preflights (OPTIONS with Access-Control-Request-Method) are answered 204 before
//     authentication, for the API's methods and any request header (Authorization, Content-Type,
//     the console's X-Pollen-CSRF); an origin not allowed gets no CORS header, which the browser
//     treats as a refusal.
//   - Scripts may read the paging token (Elements-Next-Page-Token) and the request id
//     (X-Request-Id), besides the headers every answer exposes, and Retry-After and Allow.

// exposedHeaders are the response headers scripts of an allowed origin may read.
var exposedHeaders = []string{nextPageHeader, "X-Request-Id", "Retry-After", "Allow", "WWW-Authenticate"}

// corsMaxAge is how long, in seconds, a browser may cache a preflight's answer.
const corsMaxAge = 600

// newCORS checks the configured origins and builds the middleware.
func newCORS(origins []string) (*cors.Cors, error) {
	anyOrigin := false
	var list []string
	for _, o := range origins {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		switch {
		case o == "":
			continue
		case o == "*":
			anyOrigin = true
			continue
		}
		if err := checkOrigin(o); err != nil {
			return nil, fmt.Errorf("api: CORS origin %q: %w", o, err)
		}
		list = append(list, o)
	}
	opts := cors.Options{
		AllowedMethods: []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowedHeaders: []string{"*"},
		ExposedHeaders: exposedHeaders,
		MaxAge:         corsMaxAge,
	}
	switch {
	case anyOrigin:
		opts.AllowedOrigins = []string{"*"}
	case len(list) == 0:
		return nil, fmt.Errorf("api: no CORS origin in %q", origins)
	default:
		opts.AllowedOrigins = list
		opts.AllowCredentials = true
	}
	return cors.New(opts), nil
}

// checkOrigin accepts what a browser sends as Origin: a scheme and a host, with an optional port
// and at most one "*" in the host, and nothing else.
func checkOrigin(o string) error {
	u, err := url.Parse(strings.Replace(o, "*", "wildcard", 1))
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("must start with http:// or https://")
	case u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("must be scheme://host[:port], without a path")
	case strings.Count(o, "*") > 1:
		return fmt.Errorf("may hold one * only")
	}
	return nil
}
