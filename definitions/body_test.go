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
