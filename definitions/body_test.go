package definitions

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pollen-hq/pollen/engine"
)

func builtinCatalog(t *testing.T) *engine.Catalog {
	t.Helper()
	cat, probs := Compile(Builtin())
	if len(probs) > 0 {
		t.Fatal(Describe(probs))
	}
	return cat
}

func pointers(ps []Problem) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Pointer)
	}
	return strings.Join(out, " ")
}

func TestBodyProblemsAllAtOnce(t *testing.T) {
	cat := builtinCatalog(t)
	body := `{"element":{"key":"freshdeskv2"},"tags":[1],"configuration":{"subdomain":"acme","username":"k",
		"event.poller.refresh_interval":"-1","event.notification.callback.url":"file:///etc/passwd"}}`
	_, ps := LoadInstance(cat, "body", []byte(body))
	want := "/configuration/event.notification.callback.url /configuration/event.poller.refresh_interval /tags/0"
	if got := pointers(ps); got != want {
		t.Errorf("problems at %q, want %q:\n%s", got, want, Describe(ps))
	}
}

func TestPollerStringFormCheckedLikeTheObject(t *testing.T) {
	cat := builtinCatalog(t)
	poller := `{"incidents":{"url":"/hubs/helpdesk/incidents","idField":7,"bogus":true}}`
	obj := fmt.Sprintf(`{"element":{"key":"freshdeskv2"},"configuration":{"subdomain":"acme","username":"k","event.poller.configuration":%s}}`, poller)
	str := fmt.Sprintf(`{"element":{"key":"freshdeskv2"},"configuration":{"subdomain":"acme","username":"k","event.poller.configuration":%q}}`, poller)
	_, po := LoadInstance(cat, "body", []byte(obj))
	_, ps := LoadInstance(cat, "body", []byte(str))
	if len(po) == 0 || Describe(po) != Describe(ps) {
		t.Errorf("object form:\n%s\nstring form:\n%s", Describe(po), Describe(ps))
	}
	_, bad := LoadInstance(cat, "body", []byte(`{"element":{"key":"freshdeskv2"},"configuration":{"subdomain":"acme","username":"k","event.poller.configuration":"[1]"}}`))
	if pointers(bad) != "/configuration/event.poller.configuration" {
		t.Errorf("a string that is not an object: %s", Describe(bad))
	}
}

func TestInvalidUTF8Refused(t *testing.T) {
	cat := builtinCatalog(t)
	body := []byte(`{"element":{"key":"freshdeskv2"},"configuration":{"subdomain":"acme","username":"ke` + "\xff" + `y"}}`)
	_, ps := LoadInstance(cat, "body", body)
	if len(ps) != 1 || ps[0].Pointer != "/configuration/username" || !strings.Contains(ps[0].Message, "UTF-8") {
		t.Errorf("problems: %s", Describe(ps))
	}
	arr := []byte(`{"element":{"key":"freshdeskv2"},"tags":["a","b` + "\xc3" + `"],"configuration":{}}`)
	if _, ps := LoadInstance(cat, "body", arr); len(ps) != 1 || ps[0].Pointer != "/tags/1" {
		t.Errorf("problems: %s", Describe(ps))
	}
}

// The platform's legacy event.poller.urls (what its own test suite still sends beside the JSON
// form) selects resources by name or hub URL when event.poller.configuration is absent, and is
// ignored when it is present.
func TestLegacyPollerURLs(t *testing.T) {
	cat := builtinCatalog(t)
	load := func(conf string) (*engine.Instance, []Problem) {
		return LoadInstance(cat, "body", []byte(`{"element":{"key":"freshdeskv2"},"configuration":{"subdomain":"acme","username":"k",`+conf+`}}`))
	}
	jobs := func(in *engine.Instance) string {
		var out []string
		for _, j := range in.Jobs {
			out = append(out, j.ObjectType)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct{ conf, want string }{
		{`"event.poller.urls": "accounts|groups"`, "accounts groups"},
		{`"event.poller.urls": " agents | /hubs/helpdesk/contacts?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}' "`, "agents contacts"},
		{`"event.poller.urls": "accounts", "event.poller.configuration": {"incidents": {}}`, "incidents"},
		{`"event.poller.urls": ""`, "contacts incidents"},
	} {
		in, ps := load(tc.conf)
		if len(ps) > 0 {
			t.Errorf("%s: %s", tc.conf, Describe(ps))
			continue
		}
		if got := jobs(in); got != tc.want {
			t.Errorf("%s: jobs %q, want %q", tc.conf, got, tc.want)
		}
	}
	if _, ps := load(`"event.poller.urls": "tickets"`); pointers(ps) != "/configuration/event.poller.urls" {
		t.Errorf("an unknown resource: %s", Describe(ps))
	}
}
