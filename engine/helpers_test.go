package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCatalog compiles the shipped freshdeskv2 definitions without the definitions package
// (which imports this one).
func testCatalog(t testing.TB) *Catalog {
	t.Helper()
	var els []*Element
	for _, dir := range []string{"../definitions/freshdeskv2", "../definitions/zendesk"} {
		var es ElementSpec
		readSpec(t, filepath.Join(dir, "element.json"), &es)
		el, err := CompileElement(es)
		if err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "resources", "*.json"))
		rs := map[string]*Resource{}
		for _, f := range files {
			var rspec ResourceSpec
			readSpec(t, f, &rspec)
			name := strings.TrimSuffix(filepath.Base(f), ".json")
			r, err := CompileResource(el, name, rspec)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			rs[name] = r
		}
		els = append(els, el.WithResources(rs))
	}
	cat, err := NewCatalog(els...)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func readSpec(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// testInstance compiles an instance of freshdeskv2 polling one resource with the given poller
// configuration (JSON).
func testInstance(t testing.TB, resource, poller string) *Instance {
	t.Helper()
	return testInstanceOf(t, "freshdeskv2", resource, poller)
}

// testInstanceOf is testInstance of another element (freshdeskv2 or zendesk).
func testInstanceOf(t testing.TB, element, resource, poller string) *Instance {
	t.Helper()
	var cfg map[string]any
	auth := `"subdomain":"acme","username":"key"`
	if element == "zendesk" {
		auth = `"subdomain":"acme","email":"a@acme.example","api_token":"tok"`
	}
	body := fmt.Sprintf(`{%s,"event.notification.callback.url":"http://127.0.0.1:9/",
		"event.poller.configuration":{%q:%s}}`, auth, resource, poller)
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatal(err)
	}
	in, err := CompileInstance(testCatalog(t), InstanceSpec{Element: ElementRef{Key: element}, Name: "t", Configuration: cfg})
	if err != nil {
		t.Fatal(err)
	}
	in.ID = 42
	in.CreatedAt = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	return in
}

// ticketJSON is a realistic Freshdesk ticket (about 1 KB).
func ticketJSON(id int, created, updated string, extra string) string {
	return fmt.Sprintf(`{"cc_emails":["ops@example.com"],"fwd_emails":[],"reply_cc_emails":[],"ticket_cc_emails":[],"fr_escalated":false,`+
		`"spam":false,"email_config_id":67000012345,"group_id":67000056789,"priority":%d,"requester_id":670429654%02d,"responder_id":null,`+
		`"source":2,"company_id":67000098765,"status":%d,"subject":"Support needed for order #%d: the printer on floor 3 is jammed",`+
		`"association_type":null,"support_email":"support@acme.freshdesk.com","to_emails":null,"product_id":null,"id":%d,"type":"Question",`+
		`"due_by":"2024-03-04T10:00:00Z","fr_due_by":"2024-03-02T10:00:00Z","is_escalated":false,`+
		`"custom_fields":{"cf_category":"Primary","cf_region":"EMEA","cf_order_number":"A-%06d"},"created_at":%q,"updated_at":%q,`+
		`"associated_tickets_count":null,"tags":["printer","floor-3"],"structured_description":null,`+
		`"description":"<div>The printer on floor 3 shows error E-42 and jams on every job.</div>",`+
		`"description_text":"The printer on floor 3 shows error E-42 and jams on every job."%s}`,
		1+id%4, id%100, 2+id%4, id, id, id, created, updated, extra)
}

// ticketPage is a page of n tickets changed after 2024-03-01T10:00:00Z, a third of them new.
func ticketPage(n int) []byte {
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		upd := time.Date(2024, 3, 1, 10, 1, 0, 0, time.UTC).Add(time.Duration(i) * time.Second).Format(time.RFC3339)
		created := "2024-02-01T09:00:00Z"
		if i%3 == 0 {
			created = upd
		}
		b.WriteString(ticketJSON(1000+i, created, upd, ""))
	}
	b.WriteString("]")
	return []byte(b.String())
}
