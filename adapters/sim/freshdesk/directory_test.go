package freshdesk

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/kernel"
)

// one decodes a single-record reply.
func (h *harness) one(r reply, status int) map[string]any {
	h.t.Helper()
	h.wantStatus(r, status)
	var v map[string]any
	r.json(h.t, &v)
	return v
}

// rows decodes a list reply.
func (h *harness) rows(r reply) []map[string]any {
	h.t.Helper()
	h.wantStatus(r, 200)
	var v []map[string]any
	r.json(h.t, &v)
	return v
}

func num(t *testing.T, v any) int64 {
	t.Helper()
	n, err := v.(json.Number).Int64()
	if err != nil {
		t.Fatalf("%v: %v", v, err)
	}
	return n
}

func wantKeys(t *testing.T, what string, v map[string]any, keys []string) {
	t.Helper()
	if got, want := slices.Sorted(mapKeys(v)), slices.Sorted(slices.Values(keys)); !slices.Equal(got, want) {
		t.Errorf("%s keys\n got %v\nwant %v", what, got, want)
	}
}

func wantNull(t *testing.T, what string, v map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if x, ok := v[k]; !ok || x != nil {
			t.Errorf("%s.%s = %v (present %v), want null", what, k, x, ok)
		}
	}
}

func wantEmptyList(t *testing.T, what string, v map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if x, ok := v[k].([]any); !ok || len(x) != 0 {
			t.Errorf("%s.%s = %#v, want []", what, k, v[k])
		}
	}
}

func wantFieldError(t *testing.T, h *harness, r reply, status int, field, code string) {
	t.Helper()
	h.wantStatus(r, status)
	var ve struct {
		Description string       `json:"description"`
		Errors      []FieldError `json:"errors"`
	}
	r.json(t, &ve)
	if ve.Description != "Validation failed" || len(ve.Errors) != 1 || ve.Errors[0].Field != field || ve.Errors[0].Code != code {
		t.Errorf("want %s/%s, got %s", field, code, r.body)
	}
}

func TestDirectoryShapes(t *testing.T) {
	h := newHarness(t, Options{})
	const now = "2026-03-10T12:00:15Z"

	c := h.one(h.do("POST", "/api/v2/companies", map[string]any{"name": "Acme Inc", "domains": []string{"acme.example.com"}}, nil), 201)
	wantKeys(t, "company", c, companyKeys)
	wantNull(t, "company", c, "description", "note", "health_score", "account_tier", "renewal_date", "industry")
	if num(t, c["id"]) != firstCompanyID || c["name"] != "Acme Inc" || c["domains"].([]any)[0] != "acme.example.com" ||
		c["created_at"] != now || c["updated_at"] != now || len(c["custom_fields"].(map[string]any)) != 0 {
		t.Errorf("company %v", c)
	}

	a := h.one(h.do("POST", "/api/v2/agents", map[string]any{"email": "Ann@Acme.example.com", "name": "Ann Agent"}, nil), 201)
	wantKeys(t, "agent", a, agentKeys)
	wantNull(t, "agent", a, "signature", "available_since")
	wantEmptyList(t, "agent", a, "group_ids", "role_ids", "skill_ids")
	if num(t, a["id"]) != firstAgentID || a["available"] != false || a["occasional"] != false || num(t, a["ticket_scope"]) != 1 ||
		a["type"] != "support_agent" || a["focus_mode"] != true || a["created_at"] != now || a["updated_at"] != now {
		t.Errorf("agent %v", a)
	}
	ac := a["contact"].(map[string]any)
	wantKeys(t, "agent.contact", ac, agentContactKeys)
	wantNull(t, "agent.contact", ac, "job_title", "last_login_at", "mobile", "phone")
	if ac["email"] != "ann@acme.example.com" || ac["name"] != "Ann Agent" || ac["language"] != "en" ||
		ac["time_zone"] != "Eastern Time (US & Canada)" || ac["created_at"] != now || ac["updated_at"] != now {
		t.Errorf("agent contact %v", ac)
	}

	g := h.one(h.do("POST", "/api/v2/groups", map[string]any{"name": "Billing", "description": "Money", "agent_ids": []int64{firstAgentID}}, nil), 201)
	wantKeys(t, "group", g, groupKeys)
	wantNull(t, "group", g, "escalate_to", "business_hours_id")
	if num(t, g["id"]) != firstGroupID || g["unassigned_for"] != "30m" || g["group_type"] != "support_agent_group" ||
		g["auto_ticket_assign"] != false || len(g["agent_ids"].([]any)) != 1 || g["created_at"] != now {
		t.Errorf("group %v", g)
	}

	// Lists have the view's shape; timestamps are second-precision UTC.
	for path, keys := range map[string][]string{"/api/v2/companies": companyKeys, "/api/v2/agents": agentKeys, "/api/v2/groups": groupKeys} {
		rows := h.rows(h.get(path))
		if len(rows) != 1 {
			t.Fatalf("%s: %d rows", path, len(rows))
		}
		wantKeys(t, path, rows[0], keys)
		for _, k := range []string{"created_at", "updated_at"} {
			if s, _ := rows[0][k].(string); !tsRe.MatchString(s) {
				t.Errorf("%s %s = %v", path, k, rows[0][k])
			}
		}
	}
	// The agent's group_ids reflect the group's agent_ids.
	if got := h.one(h.get(fmt.Sprintf("/api/v2/agents/%d", firstAgentID)), 200)["group_ids"].([]any); len(got) != 1 || num(t, got[0]) != firstGroupID {
		t.Errorf("agent group_ids %v", got)
	}

	// renewal_date is a date; custom_fields merge; auto_ticket_assign takes 1.
	h.clock.Advance(time.Minute)
	c = h.one(h.do("PUT", fmt.Sprintf("/api/v2/companies/%d", firstCompanyID), map[string]any{
		"renewal_date": "2026-12-31", "industry": "Retail", "custom_fields": map[string]any{"region": "EMEA"},
	}, nil), 200)
	if c["renewal_date"] != "2026-12-31" || c["industry"] != "Retail" || c["updated_at"] != "2026-03-10T12:01:15Z" || c["created_at"] != now {
		t.Errorf("updated company %v", c)
	}
	g = h.one(h.do("PUT", fmt.Sprintf("/api/v2/groups/%d", firstGroupID), map[string]any{"auto_ticket_assign": 1}, nil), 200)
	if g["auto_ticket_assign"] != true {
		t.Errorf("auto_ticket_assign %v", g["auto_ticket_assign"])
	}
	wantFieldError(t, h, h.do("PUT", fmt.Sprintf("/api/v2/groups/%d", firstGroupID), map[string]any{"auto_ticket_assign": 2}, nil), 400, "auto_ticket_assign", "datatype_mismatch")
	wantFieldError(t, h, h.do("PUT", fmt.Sprintf("/api/v2/groups/%d", firstGroupID), map[string]any{"unassigned_for": "5m"}, nil), 400, "unassigned_for", "invalid_value")

	// Same 406/415/405/404 rules as the other resources.
	h.wantStatus(h.do("GET", "/api/v2/companies", nil, map[string]string{"Accept": "text/html"}), 406)
	h.wantStatus(h.do("POST", "/api/v2/groups", map[string]any{"name": "X"}, map[string]string{"Content-Type": "text/plain"}), 415)
	h.wantStatus(h.do("POST", "/api/v2/agents", "{bad", nil), 400)
	r := h.do("DELETE", "/api/v2/agents", nil, nil)
	if r.status != 405 || r.hdr.Get("Allow") != "GET, POST" {
		t.Errorf("405: %d %q", r.status, r.hdr.Get("Allow"))
	}
	for _, p := range []string{"/api/v2/companies/1", "/api/v2/agents/abc", fmt.Sprintf("/api/v2/companies/%d/restore", firstCompanyID)} {
		if r := h.do("GET", p, nil, nil); r.status != 404 || len(r.body) != 0 {
			t.Errorf("%s: %d %q", p, r.status, r.body)
		}
	}
	h.wantStatus(h.do("GET", "/api/v2/groups", nil, map[string]string{"Authorization": ""}), 401)
	st := h.s.Stats()
	if st.Companies != 1 || st.Agents != 1 || st.Groups != 1 || st.ByEndpoint["GET /api/v2/companies"] != 2 || st.ByEndpoint["PUT /api/v2/groups/{id}"] != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestDirectoryPagingAndNoUpdatedSince(t *testing.T) {
	h := newHarness(t, Options{PageCap: 2})
	for range 25 {
		h.s.CreateCompany(nil)
		h.s.CreateAgent(nil)
		h.s.CreateGroup(nil)
	}
	for _, res := range []string{"companies", "agents", "groups"} {
		first := "/api/v2/" + res + "?per_page=10"
		r := h.get(first)
		if want := "<" + h.ts.URL + first + `&page=2>; rel="next"`; r.hdr.Get("Link") != want {
			t.Errorf("%s Link %q want %q", res, r.hdr.Get("Link"), want)
		}
		ids, pages, last := h.walk(first) // no page cap, unlike tickets (PageCap 2 here)
		if pages != 3 || len(ids) != 25 || last.status != 200 || last.hdr.Get("Link") != "" {
			t.Errorf("%s: pages %d ids %d status %d", res, pages, len(ids), last.status)
		}
		if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != 25 {
			t.Errorf("%s ids %v", res, ids)
		}
		if got := h.ids(h.get("/api/v2/" + res)); len(got) != 30-5 {
			t.Errorf("%s default per_page: %d", res, len(got))
		}
		if got := h.ids(h.get("/api/v2/" + res + "?per_page=5&page=5")); len(got) != 5 {
			t.Errorf("%s last full page: %d", res, len(got))
		}
		if r := h.get("/api/v2/" + res + "?page=9"); string(r.body) != "[]" || r.hdr.Get("Link") != "" {
			t.Errorf("%s beyond the end: %s", res, r.body)
		}
		// No "changed since" filter: Freshdesk rejects the parameter.
		for _, p := range []string{"updated_since", "_updated_since", "order_by"} {
			wantFieldError(t, h, h.get("/api/v2/"+res+"?"+p+"=2026-01-01T00:00:00Z"), 400, p, "invalid_field")
		}
		wantFieldError(t, h, h.get("/api/v2/"+res+"?per_page=101"), 400, "per_page", "invalid_value")
		wantFieldError(t, h, h.get("/api/v2/"+res+"?page=0"), 400, "page", "invalid_value")
	}
	wantFieldError(t, h, h.get("/api/v2/companies?email=a@example.com"), 400, "email", "invalid_field")
}

func TestDirectoryOrdering(t *testing.T) {
	h := newHarness(t, Options{})
	// Companies: created_at ascending, then id — whatever the ids and updates.
	c1 := h.s.CreateCompany(map[string]any{"name": "B", "created_at": t0.Add(-time.Hour)})
	c2 := h.s.CreateCompany(map[string]any{"name": "A", "created_at": t0.Add(-2 * time.Hour)})
	c3 := h.s.CreateCompany(map[string]any{"name": "C", "created_at": t0.Add(-time.Hour)})
	h.clock.Advance(time.Second)
	if _, err := h.s.UpdateCompany(id(c2), map[string]any{"note": "bumped"}); err != nil {
		t.Fatal(err)
	}
	if got := h.ids(h.get("/api/v2/companies")); !slices.Equal(got, []int64{id(c2), id(c1), id(c3)}) {
		t.Errorf("companies %v", got)
	}
	// Agents and groups: id ascending, whatever created_at and updated_at.
	a1 := h.s.CreateAgent(map[string]any{"created_at": t0.Add(-time.Hour)})
	a2 := h.s.CreateAgent(map[string]any{"created_at": t0.Add(-3 * time.Hour)})
	g1 := h.s.CreateGroup(map[string]any{"created_at": t0.Add(-time.Hour)})
	g2 := h.s.CreateGroup(map[string]any{"created_at": t0.Add(-3 * time.Hour)})
	h.clock.Advance(time.Second)
	if _, err := h.s.UpdateAgent(id(a1), map[string]any{"job_title": "Lead"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.UpdateGroup(id(g1), map[string]any{"description": "x"}); err != nil {
		t.Fatal(err)
	}
	if got := h.ids(h.get("/api/v2/agents")); !slices.Equal(got, []int64{id(a1), id(a2)}) {
		t.Errorf("agents %v", got)
	}
	if got := h.ids(h.get("/api/v2/groups")); !slices.Equal(got, []int64{id(g1), id(g2)}) {
		t.Errorf("groups %v", got)
	}
}

func TestCompanyCRUDAndHardDelete(t *testing.T) {
	h := newHarness(t, Options{})
	wantFieldError(t, h, h.do("POST", "/api/v2/companies", map[string]any{"description": "no name"}, nil), 400, "name", "missing_field")
	wantFieldError(t, h, h.do("POST", "/api/v2/companies", map[string]any{"name": "  "}, nil), 400, "name", "invalid_value")
	wantFieldError(t, h, h.do("POST", "/api/v2/companies", map[string]any{"name": "X", "created_at": "2020-01-01"}, nil), 400, "created_at", "invalid_field")
	wantFieldError(t, h, h.do("POST", "/api/v2/companies", map[string]any{"name": "X", "domains": "x.com"}, nil), 400, "domains", "datatype_mismatch")

	c := h.one(h.do("POST", "/api/v2/companies", map[string]any{"name": "Acme Inc"}, nil), 201)
	cid := num(t, c["id"])
	wantFieldError(t, h, h.do("POST", "/api/v2/companies", map[string]any{"name": "ACME inc"}, nil), 409, "name", "duplicate_value")
	other := h.one(h.do("POST", "/api/v2/companies", map[string]any{"name": "Globex"}, nil), 201)
	wantFieldError(t, h, h.do("PUT", fmt.Sprintf("/api/v2/companies/%v", other["id"]), map[string]any{"name": "acme inc"}, nil), 409, "name", "duplicate_value")
	h.one(h.do("PUT", fmt.Sprintf("/api/v2/companies/%d", cid), map[string]any{"name": "Acme Inc"}, nil), 200) // its own name is fine

	h.clock.Advance(2 * time.Second)
	c = h.one(h.do("PUT", fmt.Sprintf("/api/v2/companies/%d", cid), map[string]any{"health_score": "Happy", "description": nil}, nil), 200)
	if c["health_score"] != "Happy" || c["updated_at"] != "2026-03-10T12:00:17Z" || c["created_at"] != "2026-03-10T12:00:15Z" {
		t.Errorf("PUT %v", c)
	}
	if v := h.one(h.get(fmt.Sprintf("/api/v2/companies/%d", cid)), 200); v["health_score"] != "Happy" {
		t.Errorf("GET %v", v)
	}

	// A contact of the company loses the association when the company goes.
	ct := h.s.CreateContact(map[string]any{"name": "Emp", "email": "emp@acme.example.com", "company_id": cid})
	tk := h.s.CreateTicket(map[string]any{"requester_id": id(ct)})
	if tk["company_id"] != cid {
		t.Fatalf("ticket company %v", tk["company_id"])
	}
	var withCompany map[string]any
	h.get(fmt.Sprintf("/api/v2/tickets/%d?include=company", id(tk))).json(t, &withCompany)
	if withCompany["company"].(map[string]any)["name"] != "Acme Inc" {
		t.Errorf("include=company %v", withCompany["company"])
	}

	h.clock.Advance(time.Second)
	h.wantStatus(h.do("DELETE", fmt.Sprintf("/api/v2/companies/%d", cid), nil, nil), 204)
	if r := h.get(fmt.Sprintf("/api/v2/companies/%d", cid)); r.status != 404 || len(r.body) != 0 {
		t.Errorf("deleted company view %d %s", r.status, r.body)
	}
	rows := h.rows(h.get("/api/v2/companies"))
	if len(rows) != 1 || rows[0]["name"] != "Globex" {
		t.Errorf("list after delete %v", rows)
	}
	for _, row := range rows {
		if _, ok := row["deleted"]; ok {
			t.Error("company carries deleted")
		}
	}
	h.wantStatus(h.do("DELETE", fmt.Sprintf("/api/v2/companies/%d", cid), nil, nil), 404)
	h.wantStatus(h.do("PUT", fmt.Sprintf("/api/v2/companies/%d", cid), map[string]any{"note": "x"}, nil), 404)
	if cv, _ := h.s.Contact(id(ct)); cv["company_id"] != nil || cv["updated_at"] != "2026-03-10T12:00:18Z" {
		t.Errorf("contact after company delete: company_id %v updated_at %v", cv["company_id"], cv["updated_at"])
	}
	if tv, _ := h.s.Ticket(id(tk)); tv["company_id"] != cid {
		t.Errorf("ticket company_id %v", tv["company_id"])
	}
	// The name is free again.
	h.wantStatus(h.do("POST", "/api/v2/companies", map[string]any{"name": "Acme Inc"}, nil), 201)

	// Direct methods.
	if _, ok := h.s.Company(cid); ok {
		t.Error("Company found after delete")
	}
	if err := h.s.DeleteCompany(cid); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteCompany: %v", err)
	}
	if _, err := h.s.UpdateCompany(cid, map[string]any{"note": "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateCompany: %v", err)
	}
	d := h.s.CreateCompany(map[string]any{"domains": []string{"d.example.com"}, "created_at": "2025-01-01T00:00:00Z"})
	if d["name"] == "" || d["created_at"] != "2025-01-01T00:00:00Z" || d["updated_at"] != d["created_at"] {
		t.Errorf("CreateCompany %v", d)
	}
	d["domains"].([]string)[0] = "leak"
	if dv, _ := h.s.Company(id(d)); dv["domains"].([]string)[0] != "d.example.com" {
		t.Error("Company shares state")
	}
	if _, err := h.s.UpdateCompany(id(d), map[string]any{"updated_at": t0.Add(time.Hour), "industry": "Media"}); err != nil {
		t.Fatal(err)
	}
	var ve *ValidationError
	if _, err := h.s.UpdateCompany(id(d), map[string]any{"name": "globex"}); !errors.As(err, &ve) || ve.Status != 409 {
		t.Errorf("UpdateCompany duplicate: %v", err)
	}
	mustPanic(t, "CreateCompany duplicate", func() { h.s.CreateCompany(map[string]any{"name": "Globex"}) })
	mustPanic(t, "CreateCompany bad field", func() { h.s.CreateCompany(map[string]any{"bogus": 1}) })
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	f()
}

func TestAgentCRUDAndFilters(t *testing.T) {
	h := newHarness(t, Options{})
	wantFieldError(t, h, h.do("POST", "/api/v2/agents", map[string]any{"name": "No Email"}, nil), 400, "email", "missing_field")
	wantFieldError(t, h, h.do("POST", "/api/v2/agents", map[string]any{"email": "not-an-email"}, nil), 400, "email", "invalid_value")
	wantFieldError(t, h, h.do("POST", "/api/v2/agents", map[string]any{"email": "x@example.com", "ticket_scope": 7}, nil), 400, "ticket_scope", "invalid_value")
	wantFieldError(t, h, h.do("POST", "/api/v2/agents", map[string]any{"email": "x@example.com", "group_ids": []int64{42}}, nil), 400, "group_ids", "invalid_value")
	wantFieldError(t, h, h.do("POST", "/api/v2/agents", map[string]any{"email": "x@example.com", "available": true}, nil), 400, "available", "invalid_field")

	ann := h.one(h.do("POST", "/api/v2/agents", map[string]any{"email": "ann@example.com", "phone": "+1 555 0101", "agent_type": 2}, nil), 201)
	if ann["contact"].(map[string]any)["name"] != "ann" || ann["type"] != "field_agent" {
		t.Errorf("ann %v", ann)
	}
	bob := h.one(h.do("POST", "/api/v2/agents", map[string]any{"email": "bob@example.com", "name": "Bob", "mobile": "+1 555 0202", "occasional": true, "ticket_scope": 3, "role_ids": []int64{5, 3, 5}}, nil), 201)
	if rids := bob["role_ids"].([]any); len(rids) != 2 || num(t, rids[0]) != 3 || num(t, bob["ticket_scope"]) != 3 {
		t.Errorf("bob %v", bob)
	}
	annID, bobID := num(t, ann["id"]), num(t, bob["id"])
	wantFieldError(t, h, h.do("POST", "/api/v2/agents", map[string]any{"email": "ANN@example.com"}, nil), 409, "email", "duplicate_value")
	contact := h.s.CreateContact(map[string]any{"name": "Cy", "email": "cy@example.com"})
	r := h.do("POST", "/api/v2/agents", map[string]any{"email": "cy@example.com"}, nil)
	wantFieldError(t, h, r, 409, "email", "duplicate_value")
	if !strings.Contains(string(r.body), fmt.Sprintf(`"additional_info":{"user_id":%d}`, id(contact))) {
		t.Errorf("409 body %s", r.body)
	}

	for q, want := range map[string][]int64{
		"":                              {annID, bobID},
		"?state=fulltime":               {annID},
		"?state=occasional":             {bobID},
		"?email=BOB@example.com":        {bobID},
		"?email=nobody@example.com":     {},
		"?phone=%2B1+555+0101":          {annID},
		"?mobile=%2B1%20555%200202":     {bobID},
		"?mobile=%2B1+555+0101":         {},
		"?state=fulltime&phone=nothing": {},
	} {
		if got := h.ids(h.get("/api/v2/agents" + q)); !slices.Equal(got, want) {
			t.Errorf("%q: %v want %v", q, got, want)
		}
	}
	wantFieldError(t, h, h.get("/api/v2/agents?state=active"), 400, "state", "invalid_value")
	wantFieldError(t, h, h.get("/api/v2/agents?email=bad"), 400, "email", "invalid_value")
	wantFieldError(t, h, h.get("/api/v2/agents?updated_since=2026-01-01"), 400, "updated_since", "invalid_field")

	// Agent-level change: updated_at moves, contact.updated_at does not.
	h.clock.Advance(time.Minute)
	v := h.one(h.do("PUT", fmt.Sprintf("/api/v2/agents/%d", annID), map[string]any{"occasional": true, "signature": "<p>Ann</p>"}, nil), 200)
	if v["updated_at"] != "2026-03-10T12:01:15Z" || v["contact"].(map[string]any)["updated_at"] != "2026-03-10T12:00:15Z" || v["occasional"] != true {
		t.Errorf("agent-level update %v", v)
	}
	h.clock.Advance(time.Minute)
	v = h.one(h.do("PUT", fmt.Sprintf("/api/v2/agents/%d", annID), map[string]any{"job_title": "Lead", "name": "Ann A."}, nil), 200)
	if c := v["contact"].(map[string]any); c["updated_at"] != "2026-03-10T12:02:15Z" || c["job_title"] != "Lead" || c["name"] != "Ann A." {
		t.Errorf("contact-level update %v", c)
	}
	wantFieldError(t, h, h.do("PUT", fmt.Sprintf("/api/v2/agents/%d", annID), map[string]any{"email": "bob@example.com"}, nil), 409, "email", "duplicate_value")
	wantFieldError(t, h, h.do("PUT", fmt.Sprintf("/api/v2/agents/%d", annID), map[string]any{"agent_type": 1}, nil), 400, "agent_type", "invalid_field")
	h.one(h.do("PUT", fmt.Sprintf("/api/v2/agents/%d", annID), map[string]any{"email": "ann@example.com"}, nil), 200) // its own email

	// Direct-only fields.
	av, err := h.s.UpdateAgent(annID, map[string]any{"available": true, "active": true})
	if err != nil || av["available"] != true || av["available_since"] != "2026-03-10T12:02:15Z" || av["contact"].(map[string]any)["active"] != true {
		t.Errorf("UpdateAgent %v %v", av, err)
	}
	av["contact"].(map[string]any)["name"] = "leak"
	av["group_ids"] = append(av["group_ids"].([]int64), 1)
	if got, _ := h.s.Agent(annID); got["contact"].(map[string]any)["name"] != "Ann A." || len(got["group_ids"].([]int64)) != 0 {
		t.Error("Agent shares state")
	}

	// DELETE converts the agent to a contact with the same id.
	h.clock.Advance(time.Minute)
	h.wantStatus(h.do("DELETE", fmt.Sprintf("/api/v2/agents/%d", annID), nil, nil), 204)
	h.wantStatus(h.get(fmt.Sprintf("/api/v2/agents/%d", annID)), 404)
	h.wantStatus(h.do("DELETE", fmt.Sprintf("/api/v2/agents/%d", annID), nil, nil), 404)
	if got := h.ids(h.get("/api/v2/agents")); !slices.Equal(got, []int64{bobID}) {
		t.Errorf("agents after delete %v", got)
	}
	cv := h.one(h.get(fmt.Sprintf("/api/v2/contacts/%d", annID)), 200)
	if cv["email"] != "ann@example.com" || cv["name"] != "Ann A." || cv["job_title"] != "Lead" || cv["phone"] != "+1 555 0101" ||
		cv["active"] != true || cv["created_at"] != "2026-03-10T12:00:15Z" || cv["updated_at"] != "2026-03-10T12:03:15Z" {
		t.Errorf("converted contact %v", cv)
	}
	if got := h.ids(h.get("/api/v2/contacts?email=ann@example.com")); !slices.Equal(got, []int64{annID}) {
		t.Errorf("converted contact listed: %v", got)
	}
	// Its email now belongs to a contact.
	h.wantStatus(h.do("POST", "/api/v2/agents", map[string]any{"email": "ann@example.com"}, nil), 409)

	// Direct create fills name and email; errors.
	d := h.s.CreateAgent(nil)
	if e, _ := d["contact"].(map[string]any)["email"].(string); !strings.HasSuffix(e, "@"+agentDomain) {
		t.Errorf("CreateAgent email %v", d["contact"])
	}
	if err := h.s.DeleteAgent(annID); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteAgent gone: %v", err)
	}
	if _, err := h.s.UpdateAgent(12345, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateAgent unknown: %v", err)
	}
	mustPanic(t, "CreateAgent duplicate", func() { h.s.CreateAgent(map[string]any{"email": "bob@example.com"}) })
	mustPanic(t, "CreateAgent bad scope", func() { h.s.CreateAgent(map[string]any{"ticket_scope": 0}) })
}

func TestGroupCRUDAndMembership(t *testing.T) {
	h := newHarness(t, Options{})
	a1 := id(h.s.CreateAgent(map[string]any{"name": "One"}))
	a2 := id(h.s.CreateAgent(map[string]any{"name": "Two"}))
	wantFieldError(t, h, h.do("POST", "/api/v2/groups", map[string]any{"description": "x"}, nil), 400, "name", "missing_field")
	wantFieldError(t, h, h.do("POST", "/api/v2/groups", map[string]any{"name": "G", "agent_ids": []int64{a1, 999}}, nil), 400, "agent_ids", "invalid_value")
	wantFieldError(t, h, h.do("POST", "/api/v2/groups", map[string]any{"name": "G", "agent_ids": []any{"x"}}, nil), 400, "agent_ids", "datatype_mismatch")
	wantFieldError(t, h, h.do("POST", "/api/v2/groups", map[string]any{"name": "G", "escalate_to": 999}, nil), 400, "escalate_to", "invalid_value")
	wantFieldError(t, h, h.do("POST", "/api/v2/groups", map[string]any{"name": "G", "group_type": "other"}, nil), 400, "group_type", "invalid_value")

	h.clock.Advance(time.Second) // 12:00:16
	g := h.one(h.do("POST", "/api/v2/groups", map[string]any{"name": "Billing", "agent_ids": []int64{a2, a1}, "escalate_to": a1}, nil), 201)
	gid := num(t, g["id"])
	if ids := g["agent_ids"].([]any); len(ids) != 2 || num(t, ids[0]) != a1 || num(t, g["escalate_to"]) != a1 {
		t.Errorf("group %v", g)
	}
	wantFieldError(t, h, h.do("POST", "/api/v2/groups", map[string]any{"name": "billing"}, nil), 409, "name", "duplicate_value")
	// The agents joined: their group_ids and updated_at changed.
	for _, aid := range []int64{a1, a2} {
		a, _ := h.s.Agent(aid)
		if !slices.Equal(a["group_ids"].([]int64), []int64{gid}) || a["updated_at"] != "2026-03-10T12:00:16Z" {
			t.Errorf("agent %d after group create: %v %v", aid, a["group_ids"], a["updated_at"])
		}
	}

	// Leaving through the agent side moves the group's updated_at.
	h.clock.Advance(time.Second) // 12:00:17
	if _, err := h.s.UpdateAgent(a2, map[string]any{"group_ids": []int64{}}); err != nil {
		t.Fatal(err)
	}
	gv := h.one(h.get(fmt.Sprintf("/api/v2/groups/%d", gid)), 200)
	if ids := gv["agent_ids"].([]any); len(ids) != 1 || num(t, ids[0]) != a1 || gv["updated_at"] != "2026-03-10T12:00:17Z" {
		t.Errorf("group after agent left: %v", gv)
	}
	g2 := h.s.CreateGroup(map[string]any{"name": "Sales"})
	h.clock.Advance(time.Second) // 12:00:18
	if _, err := h.s.UpdateGroup(id(g2), map[string]any{"agent_ids": []int64{a1, a2}}); err != nil {
		t.Fatal(err)
	}
	if a, _ := h.s.Agent(a1); !slices.Equal(a["group_ids"].([]int64), []int64{gid, id(g2)}) || a["updated_at"] != "2026-03-10T12:00:18Z" {
		t.Errorf("agent 1 groups %v %v", a["group_ids"], a["updated_at"])
	}
	if gv, _ := h.s.Group(gid); gv["updated_at"] != "2026-03-10T12:00:17Z" {
		t.Errorf("untouched group moved: %v", gv["updated_at"])
	}
	wantFieldError(t, h, h.do("PUT", fmt.Sprintf("/api/v2/groups/%d", gid), map[string]any{"name": "SALES"}, nil), 409, "name", "duplicate_value")
	h.wantStatus(h.do("PUT", "/api/v2/groups/1", map[string]any{"name": "x"}, nil), 404)

	// Deleting the escalation agent clears escalate_to.
	h.clock.Advance(time.Second) // 12:00:19
	if err := h.s.DeleteAgent(a1); err != nil {
		t.Fatal(err)
	}
	if gv, _ := h.s.Group(gid); gv["escalate_to"] != nil || len(gv["agent_ids"].([]int64)) != 0 || gv["updated_at"] != "2026-03-10T12:00:19Z" {
		t.Errorf("group after agent delete %v", gv)
	}

	// Hard delete: gone from list and view; members leave it.
	h.clock.Advance(time.Second) // 12:00:20
	h.wantStatus(h.do("DELETE", fmt.Sprintf("/api/v2/groups/%d", id(g2)), nil, nil), 204)
	h.wantStatus(h.get(fmt.Sprintf("/api/v2/groups/%d", id(g2))), 404)
	if got := h.ids(h.get("/api/v2/groups")); !slices.Equal(got, []int64{gid}) {
		t.Errorf("groups after delete %v", got)
	}
	if a, _ := h.s.Agent(a2); len(a["group_ids"].([]int64)) != 0 || a["updated_at"] != "2026-03-10T12:00:20Z" {
		t.Errorf("agent 2 after group delete %v %v", a["group_ids"], a["updated_at"])
	}
	if err := h.s.DeleteGroup(id(g2)); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteGroup twice: %v", err)
	}
	if _, ok := h.s.Group(id(g2)); ok {
		t.Error("Group found after delete")
	}
	mustPanic(t, "CreateGroup duplicate", func() { h.s.CreateGroup(map[string]any{"name": "Billing"}) })
	if st := h.s.Stats(); st.Groups != 1 || st.Agents != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSeedDirectory(t *testing.T) {
	dump := func() (string, *Server) {
		s := New(Options{Seed: 42, Now: (&fakeClock{t: t0}).Now})
		s.Seed(60, 30)
		s.SeedDirectory(12, 9, 4)
		var b strings.Builder
		for _, m := range []*kernel.Table[record]{s.companies, s.agents} {
			for _, r := range m.Rows() {
				j, _ := json.Marshal(r.f)
				b.Write(j)
			}
		}
		for _, i := range s.groups.IDs() {
			g, _ := s.Group(i)
			j, _ := json.Marshal(g)
			b.Write(j)
		}
		return b.String(), s
	}
	a, s := dump()
	if b, _ := dump(); a != b {
		t.Fatal("SeedDirectory is not deterministic")
	}
	st := s.Stats()
	if st.Companies != 12 || st.Agents != 9 || st.Groups != 4 {
		t.Fatalf("stats %+v", st)
	}
	now := fmtTime(t0)
	check := func(what string, id int64, v map[string]any, prev *string) {
		created, updated := v["created_at"].(string), v["updated_at"].(string)
		if created >= now || updated >= now || updated < created || created < *prev {
			t.Errorf("%s %d: created %s updated %s prev %s", what, id, created, updated, *prev)
		}
		*prev = created
	}
	var prev string
	for _, i := range s.companies.IDs() {
		c, _ := s.Company(i)
		check("company", i, c, &prev)
		if c["name"] == "" || len(c["domains"].([]string)) != 1 {
			t.Errorf("company %v", c)
		}
	}
	prev = ""
	for _, i := range s.agents.IDs() {
		a, _ := s.Agent(i)
		check("agent", i, a, &prev)
		if e, _ := a["contact"].(map[string]any)["email"].(string); !strings.HasSuffix(e, "@"+agentDomain) {
			t.Errorf("agent %v", a)
		}
	}
	prev = ""
	members := 0
	for _, i := range s.groups.IDs() {
		g, _ := s.Group(i)
		check("group", i, g, &prev)
		for _, aid := range g["agent_ids"].([]int64) {
			members++
			if a, _ := s.Agent(aid); a["created_at"].(string) > g["created_at"].(string) {
				t.Errorf("group %d has agent %d created after it", i, aid)
			}
		}
	}
	if members == 0 {
		t.Error("no group has agents")
	}
	// Seed's references resolve: contacts' companies, tickets' responders and groups.
	for _, i := range s.contacts.IDs() {
		c, _ := s.Contact(i)
		if cid, ok := c["company_id"].(int64); ok {
			if _, found := s.Company(cid); !found {
				t.Errorf("contact %d company %d missing", i, cid)
			}
		}
	}
	for _, i := range s.tickets.IDs() {
		tk, _ := s.Ticket(i)
		if rid, ok := tk["responder_id"].(int64); ok {
			if _, found := s.Agent(rid); !found {
				t.Errorf("ticket %d responder %d missing", i, rid)
			}
		}
		if gid, ok := tk["group_id"].(int64); ok {
			if _, found := s.Group(gid); !found {
				t.Errorf("ticket %d group %d missing", i, gid)
			}
		}
	}
	if c, _ := s.Company(firstCompanyID); c["name"] != "Acme Corp" {
		t.Errorf("first company %v", c["name"])
	}
	// A second call continues after the first.
	s.SeedDirectory(3, 2, 2)
	if st := s.Stats(); st.Companies != 15 || st.Agents != 11 || st.Groups != 6 {
		t.Errorf("second call stats %+v", st)
	}
}

func TestMutateDirectory(t *testing.T) {
	clock := &fakeClock{t: t0}
	s := New(Options{Seed: 7, Now: clock.Now})
	s.Seed(20, 10)
	s.SeedDirectory(5, 5, 3)
	rng := rand.New(rand.NewPCG(3, 4))
	kinds := map[string]int{}
	total := 2000
	for range total {
		clock.Advance(time.Second)
		d := s.Mutate(rng)
		if d == "" || strings.Contains(d, "failed") {
			t.Fatalf("Mutate: %q", d)
		}
		f := strings.Fields(d)
		kinds[f[0]+" "+strings.TrimSuffix(f[2], ":")]++
	}
	dir := 0
	for _, k := range []string{"company created", "company updated", "company deleted", "agent created", "agent updated",
		"agent deleted", "group created", "group updated", "group deleted"} {
		if kinds[k] == 0 {
			t.Errorf("no %q in %v", k, kinds)
		}
		dir += kinds[k]
	}
	if share := float64(dir) / float64(total); share < 0.10 || share > 0.20 {
		t.Errorf("directory share %.2f (%v)", share, kinds)
	}
	if kinds["ticket updated"] < kinds["company updated"] {
		t.Errorf("tickets not the most frequent: %v", kinds)
	}
	// The changes are visible with updated_at at the time they were made.
	st := s.Stats()
	if st.Companies == 0 || st.Agents == 0 || st.Groups == 0 {
		t.Errorf("stats %+v", st)
	}
	latest := ""
	for _, m := range []*kernel.Table[record]{s.companies, s.agents, s.groups} {
		for _, r := range m.Rows() {
			latest = max(latest, r.f["updated_at"].(string))
		}
	}
	if latest <= fmtTime(t0) {
		t.Errorf("no directory record updated by Mutate (latest %s)", latest)
	}
}

func TestDirectoryConcurrentUse(t *testing.T) {
	h := newHarness(t, Options{RatePerMinute: 1_000_000})
	h.s.Seed(20, 10)
	h.s.SeedDirectory(5, 5, 3)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 11))
			client := h.ts.Client()
			send := func(method, path, body string) {
				var rd io.Reader
				if body != "" {
					rd = strings.NewReader(body)
				}
				req, _ := http.NewRequest(method, h.ts.URL+path, rd)
				req.SetBasicAuth("secret-key", "X")
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			for i := range 40 {
				switch i % 6 {
				case 0:
					h.s.Mutate(rng)
				case 1:
					send("GET", []string{"/api/v2/companies", "/api/v2/agents?state=fulltime", "/api/v2/groups"}[i%3]+"?per_page=100", "")
				case 2:
					send("POST", "/api/v2/companies", fmt.Sprintf(`{"name":"Co %d-%d"}`, g, i))
				case 3:
					send("POST", "/api/v2/groups", fmt.Sprintf(`{"name":"Group %d-%d","agent_ids":[%d]}`, g, i, firstAgentID+int64(rng.IntN(5))))
				case 4:
					a := h.s.CreateAgent(nil)
					h.s.UpdateAgent(id(a), map[string]any{"group_ids": []int64{firstGroupID + int64(rng.IntN(3))}})
					if rng.IntN(2) == 0 {
						h.s.DeleteAgent(id(a))
					}
				default:
					if c, ok := h.s.Company(firstCompanyID); ok {
						c["name"] = "caller mutation must not leak"
					}
					if gr, ok := h.s.Group(firstGroupID); ok {
						gr["agent_ids"] = nil
					}
					h.s.UpdateCompany(firstCompanyID, map[string]any{"note": fmt.Sprint(i)})
					_ = h.s.Stats()
					h.clock.Advance(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	if c, ok := h.s.Company(firstCompanyID); ok && c["name"] == "caller mutation must not leak" {
		t.Error("Company returned shared state")
	}
	// Membership stays consistent both ways.
	members := h.s.membership()
	for _, gid := range h.s.groups.IDs() {
		for _, aid := range members[gid] {
			if h.s.agents.Get(aid) == nil {
				t.Errorf("group %d lists missing agent %d", gid, aid)
			}
		}
	}
	for _, a := range h.s.agents.Rows() {
		aid := a.id
		for _, gid := range a.f["group_ids"].([]int64) {
			if h.s.groups.Get(gid) == nil {
				t.Errorf("agent %d in missing group %d", aid, gid)
			}
		}
	}
}

// MutateTicketOrContact changes tickets and contacts only: an account polled for incidents and
// contacts sees every change it makes.
func TestMutateTicketOrContact(t *testing.T) {
	clock := &fakeClock{t: t0}
	s := New(Options{Seed: 4, Now: clock.Now})
	s.Seed(20, 10)
	s.SeedDirectory(5, 5, 3)
	before := len(s.Changes())
	rng := rand.New(rand.NewPCG(4, 4))
	for range 300 {
		clock.Advance(time.Second)
		if d := s.MutateTicketOrContact(rng); strings.Contains(d, "failed") {
			t.Fatalf("MutateTicketOrContact: %q", d)
		}
	}
	kinds := map[string]bool{}
	for _, c := range s.Changes()[before:] {
		if c.Resource != "tickets" && c.Resource != "contacts" {
			t.Errorf("a change of %s %d", c.Resource, c.ID)
		}
		kinds[c.Resource+" "+c.Kind] = true
	}
	for _, k := range []string{"tickets created", "tickets updated", "tickets deleted", "contacts created", "contacts updated"} {
		if !kinds[k] {
			t.Errorf("no %s in 300 changes: %v", k, kinds)
		}
	}
}
