package kernel

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseLatency reads a latency as a command-line flag gives it: "500ms" (fixed) or
// "300ms-600ms" (uniform in the range); "" or "0" is none.
func ParseLatency(s string) (Latency, error) {
	if s == "" || s == "0" {
		return Latency{}, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	min, err := time.ParseDuration(strings.TrimSpace(lo))
	if err != nil || min < 0 {
		return Latency{}, fmt.Errorf("latency %q: want a duration (500ms) or a range (300ms-600ms)", s)
	}
	l := Latency{Min: min, Max: min}
	if isRange {
		if l.Max, err = time.ParseDuration(strings.TrimSpace(hi)); err != nil || l.Max < min {
			return Latency{}, fmt.Errorf("latency %q: the range must go from a shorter to a longer duration", s)
		}
	}
	return l, nil
}

// ParseDrip reads a drip as a command-line flag gives it: "BYTES/DURATION", e.g. "1/1s" for one
// byte a second; "" is none.
func ParseDrip(s string) (Drip, error) {
	if s == "" {
		return Drip{}, nil
	}
	n, d, ok := strings.Cut(s, "/")
	bytes, err1 := strconv.Atoi(strings.TrimSpace(n))
	every, err2 := time.ParseDuration(strings.TrimSpace(d))
	if !ok || err1 != nil || err2 != nil || bytes <= 0 || every < 0 {
		return Drip{}, fmt.Errorf("drip %q: want BYTES/DURATION, e.g. 1/1s", s)
	}
	return Drip{Bytes: bytes, Every: every}, nil
}

// ParseBodyKind reads a BodyKind by its name: "truncated", "norecords", "html" or "shape" ("" is
// none).
func ParseBodyKind(s string) (BodyKind, error) {
	if s == "" {
		return BodyOK, nil
	}
	for k, n := range bodyNames {
		if n == s {
			return k, nil
		}
	}
	return BodyOK, fmt.Errorf("body fault %q: want truncated, norecords, html or shape", s)
}

// ParsePagingKind reads a PagingKind by its name: "endless" or "redirect" ("" is none).
func ParsePagingKind(s string) (PagingKind, error) {
	if s == "" {
		return PagingOK, nil
	}
	for k, n := range pagingNames {
		if n == s {
			return k, nil
		}
	}
	return PagingOK, fmt.Errorf("paging fault %q: want endless or redirect", s)
}

// ParseStatuses reads a comma-separated list of HTTP statuses ("429,500,503").
func ParseStatuses(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 100 || n > 599 {
			return nil, fmt.Errorf("status %q: want an HTTP status such as 503", p)
		}
		out = append(out, n)
	}
	return out, nil
}
