// Package console serves Pollen's web console: the pages people use to create instances, watch
// their pollers and events, and see which definition files failed to load. It is embedded in the
// binary (plain HTML, CSS and JavaScript modules: no CDN, no build step) and served by
// `pollen serve` on the API's listener.
//
//	GET  /                    the console, or the sign-in page when the browser is not signed in
//	GET  /console/assets/...  scripts, styles, images
//	POST /console/signin      the sign-in form: the User and Organization secrets
//	GET  /console/signin      ?once=TOKEN: a one-time sign-in link (Sessions.SignInLink)
//	POST /console/signout     ends the session
//	POST /console/check       loads an instance body as POST /instances would, stores nothing
//
// Every other path goes to Options.API. The pages hold no secret: they call the JSON API with
// the session cookie and the session's CSRF token in the X-Pollen-CSRF header, which the API
// accepts in place of the secrets through api.Options.Sessions (the same *Sessions value).
//
// Sessions live on the server (Sessions), in memory: a restart signs everyone out. The cookie
// (pollen_session) is HttpOnly and SameSite=Strict, Secure when served over TLS, and holds a
// random token whose digest is all the server keeps. A session ends 12 hours after sign-in, after
// an hour unused, or at sign-out. Sign-in and sign-out forms are refused cross-origin
// (http.CrossOriginProtection); API calls need the CSRF header, which no other origin can read or
// set. Which secrets sign in as whom is Options.Accounts' business: SingleAccount accepts
// Pollen's one secret pair.
//
// The pages are ES modules under assets/static, rendered with lit-html (vendored under
// assets/static/vendor/lit-html with its licence), which updates only what changed, so that
// lists refreshing every few seconds keep focus, selection and open panels.
package console
