// Package httpsource is Pollen's vendor HTTP source: it implements engine.Source over net/http,
// one request per Fetch. It authenticates, keeps a per-account rate budget (and per-endpoint
// limits), retries transient failures, checks that a page is complete JSON, and hands the page's
// raw body to the engine. Paging is the engine's: the engine builds every URL (engine/pager.go).
//
// # Requests
//
// Request.URL must be an absolute http(s) URL on the scheme and host of Endpoint.BaseURL: a URL
// elsewhere is refused before anything is sent, so credentials go nowhere else. Every request
// carries Accept: application/json, the User-Agent, Endpoint.Headers, then the credentials
// (Auth.Type "basic": HTTP Basic; "header": Auth.Headers; "none" or "": nothing), which win over a
// same-named Endpoint header. The per-request Timeout covers the whole exchange, body included.
// Page bodies larger than 64 MiB are refused. When Request.JSON is set, a 2xx body that is not one
// complete JSON value (cut short, an HTML page, empty) is a failed request, retried like a 5xx;
// the final error wraps ErrBadBody.
//
// # Pages
//
// Fetch returns the page's URL, raw body and response headers, and: Date, the response's Date
// header (zero when absent or unparsable); and Sent, when the request that returned the page was
// sent (Options.Now; with retries, the last attempt's), so that Date - Sent bounds the vendor's
// clock skew.
//
// # Endpoint limits (engine.EndpointLimit)
//
// A request may carry its endpoint's own limit: at most Requests in any Per, counted from when each
// was sent, shared by every request to that endpoint (Limit.Key) of one account (base URL).
// Requests wait for it, or are deferred (below).
//
// # Rate limits (engine.RateLimitSpec)
//
// Header names default to X-RateLimit-Remaining, X-RateLimit-Total and Retry-After, each when
// RateLimit is nil or its field is empty. Numbers may be floats ("50.0"). Each base URL has one
// budget shared by all requests of a Client, so that concurrent polls of one account stay within
// its limit together. The model is a fixed window of (assumed) 60 seconds:
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
//     after 10 in a row Fetch gives up with an error wrapping the *StatusError.
//   - A wait longer than Options.MaxWait (5 s) is not waited: Fetch returns a *DeferredError at
//     once, which says until when (engine.Deferred), so that a poll commits what it has read and
//     goes on at its next turn instead of holding its account's place.
//
// So a steady state sends at most size - RateReserve requests per window and sees no 429, however
// many requests share the host. Before the first response from a host nothing is known, so each
// concurrent request may go. If the vendor's window is longer or not aligned
// with the estimate, the occasional 429 corrects the budget.
//
// # Retries and errors
//
// 5xx responses, per-request timeouts, and transport errors (refused or reset connections,
// truncated bodies, ...) are retried on the same page, up to MaxRetries times, with exponential
// backoff and full jitter: attempt n waits a uniform random duration in [0, min(MaxBackoff,
// BaseBackoff*2^(n-1))]. The final error names the URL and the number of attempts and wraps the
// last error (a *StatusError for a 5xx). Certificate errors, unknown hosts and cancellation of the
// caller's context are not retried, and neither is a redirect loop. Any other non-2xx status
// (4xx, and 3xx the built-in client does not follow) is returned at once as a *StatusError:
// callers tell 401 from 403 with errors.As and StatusError.Status.
//
// The built-in http.Client follows at most 5 redirects, within the same scheme and host only. Debug logs have
// one line per request (method, URL with any userinfo password masked, status, duration,
// attempt); credentials and the Authorization header are never logged. Options.OnResponse sees
// each attempt's status (or transport error) and nothing else, for metrics.
package httpsource
