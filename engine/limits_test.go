package engine

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine/egress"
)

func compileConf(t *testing.T, lim Limits, conf map[string]any) (*Instance, Errors) {
	t.Helper()
	in, err := lim.Compile(testCatalog(t), InstanceSpec{Element: ElementRef{Key: "freshdeskv2"}, Name: "t", Configuration: conf})
	return in, AsErrors(err)
}

func TestRefreshIntervalBounds(t *testing.T) {
	for _, v := range []any{"NaN", "Infinity", "-Infinity", "1e20", "0.0000001", "-1", "0", "1441"} {
		_, es := compileConf(t, Limits{}, map[string]any{"subdomain": "acme", "username": "k", KeyRefreshInterval: v})
		if len(es) != 1 || es[0].Pointer != "/configuration/"+KeyRefreshInterval || !strings.Contains(es[0].Msg, "from 0.016666666666666666 to 1440") {
			t.Errorf("%v: %v", v, es)
		}
	}
	in, es := compileConf(t, Limits{MinInterval: 100 * time.Millisecond}, map[string]any{"subdomain": "acme", "username": "k", KeyRefreshInterval: "0.005"})
	if len(es) > 0 || in.Interval != 300*time.Millisecond {
		t.Errorf("0.005 within a 100ms floor: %v %v", in, es)
	}
	// A stored instance is brought within today's bounds rather than refused.
	stored, err := Limits{MinInterval: time.Minute}.CompileStored(testCatalog(t), InstanceSpec{Element: ElementRef{Key: "freshdeskv2"},
		Configuration: map[string]any{"subdomain": "acme", "username": "k", KeyRefreshInterval: "0.01"}})
	if err != nil || stored.Interval != time.Minute {
		t.Errorf("stored: %v %v", stored, err)
	}
}

func TestEndpointChecks(t *testing.T) {
	pol, err := egress.New(egress.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lim := Limits{Egress: pol}
	cases := []struct {
		conf map[string]any
		ptrs []string
	}{
		{map[string]any{"subdomain": "127.0.0.1:18104/x#", "username": "k"}, []string{"/configuration/subdomain"}},
		{map[string]any{"subdomain": "acme", "username": "k", KeyBaseURL: "http://127.0.0.1:8080/internal#"}, []string{"/configuration/base.url"}},
		{map[string]any{"subdomain": "acme", "username": "k", KeyCallbackURL: "http://169.254.169.254/"}, []string{"/configuration/" + KeyCallbackURL}},
		{map[string]any{"subdomain": "acme", "username": "k", KeyCallbackURL: "file:///etc/passwd", KeyRefreshInterval: "-1", KeyBaseURL: "gopher://x/"},
			[]string{"/configuration/base.url", "/configuration/" + KeyCallbackURL, "/configuration/" + KeyRefreshInterval}},
	}
	for _, c := range cases {
		_, es := compileConf(t, lim, c.conf)
		var got []string
		for _, e := range es {
			got = append(got, e.Pointer)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.ptrs) {
			t.Errorf("%v: problems %v, want pointers %v", c.conf, es, c.ptrs)
		}
	}
	if _, es := compileConf(t, lim, map[string]any{"subdomain": "acme", "username": "k", KeyCallbackURL: "https://hooks.example.com/x"}); len(es) > 0 {
		t.Errorf("public addresses refused: %v", es)
	}
}

func TestScrub(t *testing.T) {
	key := "fd-API-key-7f3a9"
	in, es := compileConf(t, Limits{}, map[string]any{"subdomain": "acme", "username": key,
		KeySignatureKey: "sig-SECRET-1234", KeyBaseURL: "https://bob:pw-SECRET-55@vendor.example.com",
		KeyCallbackURL: "https://hooks.example.com/in?token=cb-SECRET-77&x=1"})
	if len(es) > 0 {
		t.Fatal(es)
	}
	basic := in.Endpoint.Auth.Username + ":" + in.Endpoint.Auth.Password
	echoes := []string{key, url.QueryEscape(key), "Basic " + base64.StdEncoding.EncodeToString([]byte(basic)),
		url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(basic))), base64.RawURLEncoding.EncodeToString([]byte(basic)),
		"sig-SECRET-1234", "pw-SECRET-55", "cb-SECRET-77"}
	for _, e := range echoes {
		msg := "vendor said: invalid credentials " + e + " (check them)"
		got := in.Scrub(msg)
		if strings.Contains(got, e) || !strings.Contains(got, Masked) {
			t.Errorf("Scrub(%q) = %q", msg, got)
		}
	}
	base := fmt.Errorf("poll: %s", key)
	err := in.ScrubError(fmt.Errorf("wrapped: %w", base))
	if strings.Contains(err.Error(), key) || !errors.Is(err, base) {
		t.Errorf("ScrubError: %v", err)
	}
}

func TestMaskURL(t *testing.T) {
	raw := "https://bob:pw-SECRET@vendor.example.com/p?token=t-SECRET&page=2"
	m := MaskURL(raw)
	if strings.Contains(m, "SECRET") || !strings.Contains(m, "page=2") || !strings.Contains(m, "bob:"+Masked+"@") {
		t.Fatalf("MaskURL = %q", m)
	}
	if got := UnmaskURL(m, raw); got != "https://bob:pw-SECRET@vendor.example.com/p?page=2&token=t-SECRET" {
		t.Errorf("UnmaskURL = %q", got)
	}
	if got := UnmaskURL("https://other.example.com/", raw); got != "https://other.example.com/" {
		t.Errorf("UnmaskURL of a new URL = %q", got)
	}
}
