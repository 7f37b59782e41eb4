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
// # Pages
//
// fn receives each page with its number (from 1), raw body and response headers, and:
// HasNext, whether the vendor has a next page by the paging rules above (for "link", a Link
// rel="next" is present, even one List then refuses to follow); Date, the response's Date header
// (zero when absent or unparsable); and Sent, when the request that returned the page was sent
// (Options.Now; with retries, the last attempt's), so that Date - Sent bounds the vendor's clock
// skew.
//
// # Rate limits (engine.RateLimitSpec)
//
// Header names default to X-RateLimit-Remaining, X-RateLimit-Total and Retry-After, each when
// RateLimit is nil or its field is empty. Numbers may be floats ("50.0"). Each base URL has one
// budget shared by all List calls of a Client, so that concurrent listings of one account stay
// within its limit together. The model is a fixed window of (assumed) 60 seconds:
//
//   - The budget knows the window's size (the last Total; without one, 1 + the largest Remaining
//     seen), what the vendor has left in the window (Left), and how many requests are in flight.
//     A host whose responses never carry Remaining is unmetered: nothing waits (the 429 handling
//     below still applies).
//   - A request may be sent while Left - in flight > RateReserve (Options.RateReserve, default 1,
//     capped at size - 1); sending counts it in flight until its response (or failure). Otherwise
//     it waits until the window's expected reset, then the window is taken as reset: Left = size.
//   - Each response of the current window reconciles Left = min(Left, Remaining): the vendor's
//     count includes other clients of the account, and the smallest Remaining is its latest
//     count. Every request the vendor counted after that one is still in flight, so subtracting
//     the requests in flight never counts too few of ours; it may count one twice until it is
//     answered. Responses to requests sent in an earlier window are ignored.
//   - A window opens with the first request sent while none is open and is expected to reset 60
//     seconds after the first response in it was received (the vendor's window opened no later).
//     When the allowance is spent and the response carries Retry-After, the reset is then.
//   - A 429 sets Left = 0 and the reset to now + Retry-After (seconds, integer or decimal, or an
//     HTTP date; 60s when absent or unparsable; at most one hour); the request waits for it like
//     any other and is retried with the whole window. 429s do not count against MaxRetries;
//     after 10 in a row List gives up with an error wrapping the *StatusError.
//
// So a steady state sends at most size - RateReserve requests per window and sees no 429, however
// many List calls share the host. Before the first response from a host nothing is known, so
// each concurrent List may send one request. If the vendor's window is longer or not aligned
// with the estimate, the occasional 429 corrects the budget.
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
// attempt); credentials and the Authorization header are never logged. Options.OnResponse sees
// each attempt's status (or transport error) and nothing else, for metrics.
package vendor
