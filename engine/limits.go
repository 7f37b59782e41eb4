package engine

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pollen-hq/pollen/engine/egress"
)

// Default bounds of an instance's refresh interval.
const (
	DefaultMinInterval = time.Second
	DefaultMaxInterval = 24 * time.Hour
)

// Limits are the operator's bounds on what an instance may configure. The zero value is the
// default: intervals between DefaultMinInterval and DefaultMaxInterval, and no egress check
// (the instance service always sets one).
type Limits struct {
	// MinInterval and MaxInterval bound event.poller.refresh_interval; 0 = the defaults.
	MinInterval, MaxInterval time.Duration
	// Egress checks base.url, the element's base URL once the instance's values are in it, and
	// callback URLs, and makes the values in the element's base URL DNS labels; nil = none of
	// that (callback URLs must still be absolute http or https URLs). The instance service always
	// sets one; `pollen validate` and tests of other packages do not.
	Egress *egress.Policy
}

func (l Limits) withDefaults() Limits {
	if l.MinInterval <= 0 {
		l.MinInterval = DefaultMinInterval
	}
	if l.MaxInterval <= 0 {
		l.MaxInterval = DefaultMaxInterval
	}
	if l.MaxInterval < l.MinInterval {
		l.MaxInterval = l.MinInterval
	}
	return l
}

// Compile checks an instance body against the catalog and these limits, and compiles it: every
// problem is reported, each with the JSON pointer of the body value at fault.
func (l Limits) Compile(cat *Catalog, spec InstanceSpec) (*Instance, error) {
	return compileInstance(cat, spec, l.withDefaults(), false)
}

// CompileStored compiles the body of an instance that was accepted before, against definitions
// and limits that may have changed since: a job that no longer compiles is paused (see
// Instance.Paused) instead of failing the instance, an interval out of today's bounds is brought
// within them, and addresses are left to the connect-time check. Other problems are errors.
func (l Limits) CompileStored(cat *Catalog, spec InstanceSpec) (*Instance, error) {
	return compileInstance(cat, spec, l.withDefaults(), true)
}

// interval reads event.poller.refresh_interval (minutes, fractions allowed) within the limits.
// Stored instances are brought within them rather than refused.
func (l Limits) interval(s string, lenient bool) (time.Duration, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	bounds := fmt.Sprintf("a number of minutes from %s to %s (fractions allowed: 0.05 is 3 seconds)",
		minutes(l.MinInterval), minutes(l.MaxInterval))
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q must be %s", s, bounds)
	}
	d := f * float64(time.Minute)
	switch {
	case d < float64(l.MinInterval):
		if lenient && f > 0 {
			return l.MinInterval, nil
		}
		return 0, fmt.Errorf("%q must be %s", s, bounds)
	case d > float64(l.MaxInterval):
		if lenient {
			return l.MaxInterval, nil
		}
		return 0, fmt.Errorf("%q must be %s", s, bounds)
	}
	return time.Duration(d), nil
}

func minutes(d time.Duration) string {
	return strconv.FormatFloat(d.Minutes(), 'f', -1, 64)
}

var dnsLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// checkEndpoint checks where the instance's vendor calls go: base.url when given, otherwise the
// element's base URL with the instance's values in it, each of which must be a DNS label (they
// name a host, as {subdomain} does).
func (in *Instance) checkEndpoint(el *Element, l Limits, c *errs) {
	if base := in.Config[KeyBaseURL]; base != "" {
		if u, err := url.Parse(base); err != nil || u.Scheme == "" || u.Host == "" {
			return // compileEndpoint said so
		}
		if err := l.Egress.CheckURL(base); err != nil {
			c.add(Pointer("configuration", KeyBaseURL), "%v", err)
		}
		return
	}
	var keys []string
	for _, p := range el.baseURL.parts {
		if p.key == "" {
			continue
		}
		keys = append(keys, p.key)
		if v := in.Config[p.key]; v != "" && !dnsLabel.MatchString(v) {
			c.add(Pointer("configuration", p.key), "%q must be a DNS label (letters, digits and hyphens, at most 63): it names the vendor's host", v)
			return
		}
	}
	if err := l.Egress.CheckURL(in.Endpoint.BaseURL); err != nil {
		ptr := "/configuration"
		if len(keys) > 0 {
			ptr = Pointer("configuration", keys[0])
		}
		c.add(ptr, "the vendor URL %s: %v", in.Endpoint.BaseURL, err)
	}
}
