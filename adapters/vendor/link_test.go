package vendor

import (
	"net/http"
	"testing"
	"time"
)

func TestNextLink(t *testing.T) {
	cases := []struct {
		headers []string
		want    string
	}{
		{nil, ""},
		{[]string{`<https://a/x?page=2>; rel="next"`}, "https://a/x?page=2"},
		{[]string{`<https://a/x?page=2>;rel="next"`}, "https://a/x?page=2"},
		{[]string{`<https://a/x?page=2>; rel=next`}, "https://a/x?page=2"},
		{[]string{` < /x?page=2 > ; rel = "next" `}, "/x?page=2"},
		{[]string{`<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next"`}, "https://a/x?page=3"},
		{[]string{`<https://a/x?a=1,2>; rel="prev"; title="x, <y>", <https://a/n>; rel="next"`}, "https://a/n"},
		{[]string{`<https://a/p>; rel="prev"`, `<https://a/n>; rel="next"`}, "https://a/n"},
		{[]string{`<https://a/n>; rel="nextish"`}, ""},
		{[]string{`<https://a/n>; rev="next"`}, ""},
		{[]string{`<https://a/n`}, ""},
		{[]string{`garbage`}, ""},
	}
	for _, tc := range cases {
		h := http.Header{}
		for _, v := range tc.headers {
			h.Add("Link", v)
		}
		if got := nextLink(h); got != tc.want {
			t.Errorf("nextLink(%q) = %q, want %q", tc.headers, got, tc.want)
		}
	}
}

func TestArrayLen(t *testing.T) {
	cases := []struct {
		body string
		n    int
		ok   bool
	}{
		{`[]`, 0, true},
		{" [ \n ] ", 0, true},
		{`[1]`, 1, true},
		{`[1, [2, 3], {"a": [4, 5]}, "x,y]\"", null]`, 5, true},
		{`{"a":[1,2]}`, 0, false},
		{``, 0, false},
		{`null`, 0, false},
	}
	for _, tc := range cases {
		n, ok := arrayLen([]byte(tc.body))
		if n != tc.n || ok != tc.ok {
			t.Errorf("arrayLen(%q) = %d, %v; want %d, %v", tc.body, n, ok, tc.n, tc.ok)
		}
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"7":   7 * time.Second,
		"1.5": 1500 * time.Millisecond,
		"-3":  0,
		"1e9": maxRetryWait,
		now.Add(30 * time.Second).Format(http.TimeFormat): 30 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	}
	for v, want := range cases {
		d, ok := retryAfter(http.Header{"Retry-After": {v}}, "Retry-After", now)
		if !ok || d != want {
			t.Errorf("retryAfter(%q) = %v, %v; want %v", v, d, ok, want)
		}
	}
	for _, v := range []string{"", "soon", "NaN"} {
		if _, ok := retryAfter(http.Header{"Retry-After": {v}}, "Retry-After", now); ok {
			t.Errorf("retryAfter(%q) ok", v)
		}
	}
}
