package engine

import (
	"net/http"
	"testing"
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
