package schemas

import (
	"strings"
	"testing"
)

func TestSchemasCompile(t *testing.T) {
	for _, k := range Kinds {
		if Schema(k) == nil {
			t.Fatalf("%s: not compiled", k)
		}
	}
}

func TestValidateReportsEveryViolation(t *testing.T) {
	doc := `{"vendorPath": 7, "polling": {"url": "/hubs/helpdesk/x", "idFeild": "id", "pageSize": 0}, "extra": true}`
	got := Validate(Resource, []byte(doc))
	want := []string{"/: additionalProperties 'extra' not allowed", "/polling: additionalProperties 'idFeild' not allowed", "/polling/pageSize", "/vendorPath"}
	if len(got) != len(want) {
		t.Fatalf("got %d violations, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i].String(), w) {
			t.Errorf("violation %d = %q, want prefix %q", i, got[i], w)
		}
	}
}

func TestValidateNotJSON(t *testing.T) {
	got := Validate(Element, []byte(`{"key": `))
	if len(got) != 1 || got[0].Pointer != "" || !strings.Contains(got[0].Message, "not valid JSON") {
		t.Fatalf("got %v", got)
	}
}

func TestInstanceBodyPollerConfigAsString(t *testing.T) {
	for _, body := range []string{
		`{"element":{"key":"freshdeskv2"},"configuration":{"event.poller.configuration":"{\"incidents\":{}}"}}`,
		`{"element":{"key":"freshdeskv2"},"configuration":{"event.poller.configuration":{"incidents":{"idField":"id"}}}}`,
	} {
		if vs := Validate(Instance, []byte(body)); len(vs) != 0 {
			t.Errorf("%s: %v", body, vs)
		}
	}
	bad := `{"element":{"key":"freshdeskv2"},"configuration":{"event.poller.configuration":{"incidents":{"idFeild":"id"}}}}`
	if vs := Validate(Instance, []byte(bad)); len(vs) == 0 {
		t.Errorf("unknown poller field accepted")
	}
}
