// Package vendor is Pollen's vendor HTTP source: it implements engine.Source over net/http. It
// authenticates, pages, keeps a per-host rate budget, and retries transient failures, and hands
// each page's raw body to the engine.
//
// # Requests
//
// The first URL is Endpoint.BaseURL + Path (one slash between them), with Query and the paging
// parameters added (a parameter set by paging replaces one of the same name in Query). Every
// request carries Accept: application/json, the User-Agent, Endpoint.Headers, then the credentials
// (Auth.Type "basic": HTTP Basic; "header": Auth.Headers; "none" or "": nothing), which win over a
// same-named Endpoint header. The per-request Timeout covers the whole exchange, body included.
// Page bodies larger than 64 MiB are refused.
//
// # Paging (engine.PagingSpec)
//
//   - "none" or "": one request.
//   - "link": the first request sends SizeParam=PageSize (when both are set); later requests follow
//     the RFC 8288 Link rel="next" target until a response has none. Link parsing is lenient:
//     several links per header, several Link headers, rel=next unquoted, rel with several values,
//     no space after ">;", targets relative to the request URL. A next link that leaves the first
//     URL's scheme and host is refused (credentials are never sent elsewhere), and so is a next
//     link that repeats the current URL.
//   - "page": PageParam (default "page") = 1, 2, 3, ... with SizeParam=PageSize. The Source does
//     not know where the records are in the body, so it stops after a page that is empty (no
//     bytes, `[]` or `null`), after a bare JSON array holding fewer than PageSize elements, or after
//     a page without Link rel="next" when an earlier page of the same listing had one. A page that
//     carries a Link rel="next" and is not empty always continues.
//
// When MaxPages > 0 and another page would be needed after page MaxPages, List returns an error
// wrapping ErrPageCap (after fn has seen page MaxPages). For "page" paging "needed" is judged by
// the rules above, so a listing of exactly MaxPages full pages also reports the cap.
//
// # Rate limits (engine.RateLimitSpec)
//
// Header names default to X-RateLimit-Remaining, X-RateLimit-Total and Retry-After, each when
// RateLimit is nil or its field is empty. Numbers may be floats ("50.0"). Each base URL has one
// budget shared by all List calls of a Client. A window opens with the first request made while
// no window is open and lasts 60 seconds. When a successful response reports Remaining <= 0, the
// host is blocked until now + Retry-After when that response carries one, else until the end of
// the window; the next request to the host (from any List call) waits for it, then a new window
// opens. This errs on the side of waiting; it never sends a request the vendor announced it would
// refuse.
//
// A 429 blocks the host and waits exactly Retry-After (seconds, integer or decimal, or an HTTP
// date; 60s when absent or unparsable; at most one hour), then retries the same page. 429s do not
// count against MaxRetries; after 10 in a row List gives up with an error wrapping the
// *StatusError.
//
// # Retries and errors
//
// 5xx responses, per-request timeouts, and transport errors (refused or reset connections,
// truncated bodies, ...) are retried on the same page, up to MaxRetries times, with exponential
// backoff and full jitter: attempt n waits a uniform random duration in [0, min(MaxBackoff,
// BaseBackoff*2^(n-1))]. The final error names the URL and the number of attempts and wraps the
// last error (a *StatusError for a 5xx). Certificate errors, unknown hosts and cancellation of the
// caller's context are not retried. Any other non-2xx status (4xx, and 3xx the built-in client
// does not follow) is returned at once as a *StatusError: callers tell 401 from 403 with errors.As
// and StatusError.Status. An error returned by fn is returned as is.
//
// The built-in http.Client follows redirects only within the same scheme and host. Debug logs have
// one line per request (method, URL with any userinfo password masked, status, duration,
// attempt); credentials and the Authorization header are never logged.
package vendor
