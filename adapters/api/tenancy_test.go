package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/tenants"
)

// tenant is a user of an organization, with the Authorization header it sends.
type tenant struct {
	auth string
	user *engine.User
}

func (h *harness) newTenant(org string, role engine.Role, email string) tenant {
	h.t.Helper()
	ctx := h.t.Context()
	if h.orgSecrets == nil {
		h.orgSecrets = map[string]string{}
	}
	o, err := h.tenants.Organization(ctx, org)
	orgSecret := h.orgSecrets[org]
	if err != nil {
		if o, orgSecret, err = h.tenants.CreateOrganization(ctx, org); err != nil {
			h.t.Fatal(err)
		}
		h.orgSecrets[org] = orgSecret
	}
	u, secret, err := h.tenants.CreateUser(ctx, nil, tenants.UserSpec{OrganizationID: o.ID, Email: email, Role: role})
	if err != nil {
		h.t.Fatal(err)
	}
	return tenant{auth: "User " + secret + ", Organization " + orgSecret, user: u}
}

func (h *harness) as(tn tenant, method, path, body string) response {
	h.t.Helper()
	hdr := map[string]string{"Authorization": tn.auth, "Content-Type": "application/json"}
	return h.do(method, path, strings.NewReader(body), hdr)
}

func instanceOf(t *testing.T, r response) instanceJSON {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var v instanceJSON
	r.json(t, &v)
	return v
}

// Two users of two organizations see and touch nothing of each other's: instances, tokens,
// configuration entries, events, hub calls, enabling; what they may not see answers 404, exactly
// like what does not exist.
func TestTenantsAreIsolated(t *testing.T) {
	h, fe := newEventsHarness(t) // instances 1 and 2 belong to the bootstrap admin of organization 1
	fe.known = map[string]bool{"i:1": true, "i:2": true, "i:3": true, "i:4": true}
	alice := h.newTenant("acme", engine.RoleUser, "alice@acme.example")
	bob := h.newTenant("bolt", engine.RoleUser, "bob@bolt.example")
	a := instanceOf(t, h.as(alice, "POST", "/instances", secretBody))
	b := instanceOf(t, h.as(bob, "POST", "/instances", seed000Example))
	if a.User.ID != alice.user.ID || b.User.ID != bob.user.ID {
		t.Errorf("owners %d %d", a.User.ID, b.User.ID)
	}
	var list []instanceJSON
	h.as(alice, "GET", "/instances", "").json(t, &list)
	if len(list) != 1 || list[0].ID != a.ID {
		t.Fatalf("alice lists %+v", list)
	}
	// Bob reaches none of alice's (nor the admin's) by id: 404, like an id that does not exist.
	for _, id := range []int64{a.ID, 1, 2, 999} {
		for _, rt := range []struct{ method, path, body string }{
			{"GET", "/instances/%d", ""},
			{"PATCH", "/instances/%d", `{"name": "mine"}`},
			{"PUT", "/instances/%d", `{"name": "mine"}`},
			{"DELETE", "/instances/%d", ""},
			{"GET", "/instances/%d/configuration", ""},
			{"GET", "/instances/%d/events", ""},
			{"PUT", "/instances/%d/events/redeliver", ""},
		} {
			r := h.as(bob, rt.method, fmt.Sprintf(rt.path, id), rt.body)
			if r.status != 404 {
				t.Errorf("bob %s %s: %d %s", rt.method, fmt.Sprintf(rt.path, id), r.status, r.body)
			}
		}
	}
	// Alice's token gets bob nothing either: not the hub, not enabling, not narrowing.
	withA := bob.auth + ", Element " + a.Token
	for _, rt := range []struct{ method, path string }{{"GET", "/hubs/helpdesk/contacts"}, {"DELETE", "/instances/enabled"}, {"GET", "/instances"}} {
		if r := h.do(rt.method, rt.path, nil, map[string]string{"Authorization": withA}); r.status != 401 {
			t.Errorf("bob with alice's token %s %s: %d %s", rt.method, rt.path, r.status, r.body)
		}
	}
	// Events of the admin's instances (1 and 2) are not bob's or alice's.
	for _, tn := range []tenant{alice, bob} {
		var evs []map[string]any
		h.as(tn, "GET", "/instances/events", "").json(t, &evs)
		if len(evs) != 0 {
			t.Errorf("%s sees events %v", tn.user.Email, evs)
		}
		for _, p := range []string{"/instances/events/ev0", "/instances/events?instanceId=1", "/instances/events/queued?instanceId=1"} {
			if r := h.as(tn, "GET", p, ""); r.status != 404 {
				t.Errorf("%s GET %s: %d %s", tn.user.Email, p, r.status, r.body)
			}
		}
		var qs []map[string]any
		h.as(tn, "GET", "/instances/events/queued", "").json(t, &qs)
		if len(qs) != 0 {
			t.Errorf("%s sees queued %v", tn.user.Email, qs)
		}
		for _, body := range []string{`{"eventId": "ev1"}`, `{"notificationId": "note1"}`, `{"instanceId": 1}`} {
			if r := h.as(tn, "PUT", "/instances/events/redeliver", body); r.status != 404 {
				t.Errorf("%s redeliver %s: %d %s", tn.user.Email, body, r.status, r.body)
			}
		}
	}
	// Nothing of alice's changed.
	if got := instanceOf(t, h.as(alice, "GET", fmt.Sprintf("/instances/%d", a.ID), "")); got.Name != a.Name {
		t.Errorf("alice's instance renamed to %q", got.Name)
	}
	if r := h.as(bob, "GET", "/users", ""); r.status != 403 {
		t.Errorf("a plain user lists users: %d", r.status)
	}
	h.assertNoSecrets(apiKey, sigKey)
}

// An organization admin sees every instance of the organization, a user only theirs; an Element
// token narrows a principal to its own instance.
func TestOrganizationAdminAndElementToken(t *testing.T) {
	h := newHarness(t, 0)
	admin := h.newTenant("acme", engine.RoleOrgAdmin, "boss@acme.example")
	ann := h.newTenant("acme", engine.RoleUser, "ann@acme.example")
	ben := h.newTenant("acme", engine.RoleUser, "ben@acme.example")
	a := instanceOf(t, h.as(ann, "POST", "/instances", secretBody))
	b := instanceOf(t, h.as(ben, "POST", "/instances", seed000Example))
	var list []instanceJSON
	h.as(admin, "GET", "/instances", "").json(t, &list)
	if len(list) != 2 {
		t.Errorf("the admin sees %d instances, want 2", len(list))
	}
	if r := h.as(ann, "GET", fmt.Sprintf("/instances/%d", b.ID), ""); r.status != 404 {
		t.Errorf("ann reads ben's: %d", r.status)
	}
	if r := h.as(admin, "PATCH", fmt.Sprintf("/instances/%d", b.ID), `{"name": "renamed by the admin"}`); r.status != 200 {
		t.Errorf("the admin patches ben's: %d %s", r.status, r.body)
	}
	// With a's token, even the admin reaches a alone.
	narrowed := map[string]string{"Authorization": admin.auth + ", Element " + a.Token}
	if r := h.do("GET", fmt.Sprintf("/instances/%d", b.ID), nil, narrowed); r.status != 404 {
		t.Errorf("token of a reads b: %d", r.status)
	}
	if r := h.do("GET", fmt.Sprintf("/instances/%d", a.ID), nil, narrowed); r.status != 200 {
		t.Errorf("token of a reads a: %d", r.status)
	}
	h.do("GET", "/instances", nil, narrowed).json(t, &list)
	if len(list) != 1 || list[0].ID != a.ID {
		t.Errorf("token of a lists %d instances", len(list))
	}
	// The admin's users: create (secret shown once), list, disable; a disabled user is refused.
	r := h.as(admin, "POST", "/users", `{"email": "cy@acme.example", "firstName": "Cy", "roles": [{"key": "org"}]}`)
	var u accountUserJSON
	r.json(t, &u)
	if r.status != 200 || len(u.Secret) < 40 {
		t.Fatalf("create user: %d %s", r.status, r.body)
	}
	var users []accountUserJSON
	h.as(admin, "GET", "/users", "").json(t, &users)
	if len(users) != 4 || strings.Contains(fmt.Sprint(users), u.Secret) {
		t.Errorf("users: %+v", users)
	}
	if r := h.as(admin, "PATCH", fmt.Sprintf("/users/%d", ann.user.ID), `{"active": false}`); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	if r := h.as(ann, "GET", "/instances", ""); r.status != 401 {
		t.Errorf("a disabled user: %d", r.status)
	}
	var rot secretJSON
	r = h.as(ben, "POST", fmt.Sprintf("/users/%d/secret", ben.user.ID), "")
	r.json(t, &rot)
	if r.status != 200 || rot.Secret == "" {
		t.Fatalf("rotate own secret: %d %s", r.status, r.body)
	}
	if r := h.as(ben, "GET", "/users/me", ""); r.status != 401 {
		t.Errorf("the old secret still works: %d", r.status)
	}
	orgPart := ben.auth[strings.Index(ben.auth, ", Organization"):]
	if r := h.do("GET", "/users/me", nil, map[string]string{"Authorization": "User " + rot.Secret + orgPart}); r.status != 200 {
		t.Errorf("the new secret: %d %s", r.status, r.body)
	}
	if r := h.as(admin, "PATCH", fmt.Sprintf("/users/%d", admin.user.ID), `{"active": false, "roles": [{"key": "org"}]}`); r.status != 400 {
		t.Errorf("an admin disables themself: %d %s", r.status, r.body)
	}
	var e apiError
	h.as(admin, "POST", "/users", `{"email": 7, "roles": [{"key": "root"}], "extra": 1}`).json(t, &e)
	if len(e.Errors) != 3 {
		t.Errorf("three faults, %d problems: %+v", len(e.Errors), e)
	}
}

// Failed authentications are throttled per client address: after the burst, even the right
// secrets get 429 until the budget refills.
func TestFailedAuthenticationThrottled(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var clock = func() time.Time { return now }
	h := newHarness(t, 0, func(c *harnessConfig) {
		c.api.Throttle = tenants.NewThrottle(tenants.ThrottleOptions{Burst: 5, Every: time.Second})
		c.api.Now = func() time.Time { return clock() }
	})
	bad := map[string]string{"Authorization": "User wrong-" + userSecret + ", Organization " + orgSecret}
	for i := range 5 {
		if r := h.do("GET", "/instances", nil, bad); r.status != 401 {
			t.Fatalf("failure %d: %d", i, r.status)
		}
	}
	r := h.do("GET", "/instances", nil, nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("after the burst, good secrets: %d (Retry-After %q)", r.status, r.header.Get("Retry-After"))
	}
	now = now.Add(2 * time.Second)
	if r := h.do("GET", "/instances", nil, nil); r.status != 200 {
		t.Errorf("after the budget refilled: %d", r.status)
	}
	// A missing header is not a failed attempt.
	for range 10 {
		h.do("GET", "/instances", nil, map[string]string{})
	}
	if r := h.do("GET", "/instances", nil, nil); r.status != 200 {
		t.Errorf("after requests without credentials: %d", r.status)
	}
}

// A secret written back masked keeps the stored one; URLs show no credentials.
func TestMaskedValuesWrittenBack(t *testing.T) {
	h := newHarness(t, 0)
	body := strings.Replace(secretBody, `"https://example.com/hook"`, `"https://example.com/hook?token=cbtok-SECRET-1&x=1"`, 1)
	body = strings.Replace(body, `"subdomain": "acme",`, `"subdomain": "acme", "base.url": "https://bob:pw-SECRET-2@vendor.example.com",`, 1)
	v := instanceOf(t, h.post(body))
	conf := v.Configuration
	if conf["username"] != masked || !strings.Contains(conf["base.url"], "bob:"+masked+"@") || !strings.Contains(conf[engine.KeyCallbackURL], "token="+masked) {
		t.Fatalf("view: %v", conf)
	}
	patch, _ := json.Marshal(map[string]any{"configuration": map[string]any{"username": masked, "base.url": conf["base.url"],
		engine.KeyCallbackURL: conf[engine.KeyCallbackURL], engine.KeySignatureKey: masked}})
	if r := h.send("PATCH", fmt.Sprintf("/instances/%d", v.ID), string(patch)); r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	rec := h.record(v.ID)
	if rec.Configuration["username"] != apiKey || rec.Configuration[engine.KeySignatureKey] != sigKey ||
		rec.Configuration["base.url"] != "https://bob:pw-SECRET-2@vendor.example.com" ||
		!strings.Contains(rec.Configuration[engine.KeyCallbackURL].(string), "token=cbtok-SECRET-1") {
		t.Errorf("stored after writing masked values back: %v", rec.Configuration)
	}
	h.assertNoSecrets(apiKey, sigKey, "cbtok-SECRET-1", "pw-SECRET-2")
}
