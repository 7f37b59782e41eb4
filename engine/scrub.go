package engine

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

// Masked replaces a secret in every response, log line and message.
const Masked = "********"

// SecretKeyName reports whether a configuration key's name says it holds a secret, whatever the
// element declares: username (an API key, for some vendors), password, or a name containing secret, key
// or token.
func SecretKeyName(key string) bool {
	k := strings.ToLower(key)
	if k == "username" || k == "password" {
		return true
	}
	return strings.Contains(k, "secret") || strings.Contains(k, "key") || strings.Contains(k, "token")
}

// secretParam reports whether a URL query parameter's name says its value is a credential.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"token", "key", "secret", "sig", "password", "passwd", "pwd", "auth", "code", "credential", "session"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// IsSecretValue reports whether a configuration key of the instance holds a secret: the element
// marks it so, it is a signature key, or its name says so.
func (in *Instance) IsSecretValue(key string) bool { return in.IsSecret(key) || SecretKeyName(key) }

// URLSecrets returns the credentials a URL carries: the userinfo password, and the values of
// query parameters whose names say they are credentials (token, key, secret, sig, ...).
func URLSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	if p, ok := u.User.Password(); ok && p != "" {
		out = append(out, p)
	}
	for k, vs := range u.Query() {
		if secretParam(k) {
			for _, v := range vs {
				if v != "" {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// MaskURL returns a URL with the credentials URLSecrets finds replaced by Masked. A value that
// does not parse as a URL is returned as it is.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	changed := false
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), Masked)
		changed = true
	}
	q := u.Query()
	for k, vs := range q {
		if secretParam(k) {
			for i := range vs {
				vs[i] = Masked
			}
			changed = true
		}
	}
	if !changed {
		return raw
	}
	if u.RawQuery != "" {
		u.RawQuery = q.Encode()
	}
	return strings.NewReplacer(url.QueryEscape(Masked), Masked, url.PathEscape(Masked), Masked).Replace(u.String())
}

// UnmaskURL is the URL a client means when it writes back a URL MaskURL gave it: a masked
// password or query value takes the stored URL's value.
func UnmaskURL(sent, stored string) string {
	if !strings.Contains(sent, Masked) {
		return sent
	}
	u, err := url.Parse(sent)
	if err != nil {
		return sent
	}
	old, err := url.Parse(stored)
	if err != nil {
		return sent
	}
	if p, ok := u.User.Password(); ok && p == Masked {
		if op, ok := old.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), op)
		}
	}
	q, oq := u.Query(), old.Query()
	changed := false
	for k, vs := range q {
		for i, v := range vs {
			if v == Masked && i < len(oq[k]) {
				vs[i], changed = oq[k][i], true
			}
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// scrubber replaces an instance's secrets, in the forms a vendor or a library may echo them.
type scrubber struct {
	r *strings.Replacer
}

// minScrubbed is the shortest secret scrubbed: shorter values would mask ordinary text.
const minScrubbed = 4

// newScrubber collects the instance's secrets: secret configuration values, the vendor
// credentials (and the Basic header built from them), header credentials, and the credentials in
// its URLs; each raw, base64, URL- and JSON-escaped.
func newScrubber(in *Instance) *scrubber {
	var raw []string
	for k, v := range in.Config {
		if in.IsSecretValue(k) {
			raw = append(raw, v)
		}
	}
	a := in.Endpoint.Auth
	raw = append(raw, a.Username, a.Password)
	if a.Type == "basic" {
		raw = append(raw, a.Username+":"+a.Password)
	}
	for _, v := range a.Headers {
		raw = append(raw, v)
		if _, cred, ok := strings.Cut(v, " "); ok { // "Bearer xyz", "Basic xyz"
			raw = append(raw, cred)
		}
	}
	for _, k := range []string{KeyBaseURL, KeyCallbackURL} {
		raw = append(raw, URLSecrets(in.Config[k])...)
	}
	raw = append(raw, URLSecrets(in.Endpoint.BaseURL)...)
	seen := map[string]bool{}
	var forms []string
	add := func(s string) {
		if len(s) >= minScrubbed && !seen[s] {
			seen[s] = true
			forms = append(forms, s)
		}
	}
	for _, s := range raw {
		if len(s) < minScrubbed {
			continue
		}
		add(s)
		add(url.QueryEscape(s))
		add(url.PathEscape(s))
		if b, err := json.Marshal(s); err == nil {
			add(string(b[1 : len(b)-1]))
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			e := enc.EncodeToString([]byte(s))
			add(e)
			add(url.QueryEscape(e))
		}
	}
	if len(forms) == 0 {
		return &scrubber{}
	}
	// Longest first, so that a secret inside a longer one's encoding does not break it up.
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, Masked)
	}
	return &scrubber{r: strings.NewReplacer(pairs...)}
}

// Scrub replaces every secret of the instance in s (configuration secrets, vendor credentials
// and the Basic header built from them, URL credentials; raw, base64, URL- or JSON-escaped) with
// Masked. Apply it to anything that may quote what the vendor or a callback echoed: errors,
// log lines, poller states, hub error bodies, event history.
func (in *Instance) Scrub(s string) string {
	if in == nil || in.scrub == nil || in.scrub.r == nil || s == "" {
		return s
	}
	return in.scrub.r.Replace(s)
}

// scrubbedError is an error whose message is scrubbed; errors.Is and errors.As still see the
// error it stands for.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// ScrubError returns err with its message scrubbed of the instance's secrets, unwrapping to err.
func (in *Instance) ScrubError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if s := in.Scrub(msg); s != msg {
		return &scrubbedError{msg: s, err: err}
	}
	return err
}
