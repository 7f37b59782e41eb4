package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/tenants"
)

func init() {
	register("Instances", testInstances)
	register("InstanceScopes", testInstanceScopes)
	register("SecretsSealed", testSecretsSealed)
	register("UsersAndOrganizations", testUsersAndOrganizations)
}

// instanceAsStored is in as it reads back: UTC times, non-nil tags and configuration, numbers as
// json.Number.
func instanceAsStored(in *engine.InstanceRecord) *engine.InstanceRecord {
	out := *in
	if out.Tags == nil {
		out.Tags = []string{}
	}
	out.Configuration = map[string]any{}
	if in.Configuration != nil {
		b, _ := json.Marshal(in.Configuration)
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		d.Decode(&out.Configuration)
	}
	out.CreatedAt, out.UpdatedAt = in.CreatedAt.UTC(), in.UpdatedAt.UTC()
	return &out
}

// Instances are created (dated by the store's clock when undated), read by id and by token,
// listed by id, updated whole but for their id, creation date and owner, and deleted.
func testInstances(t *testing.T, e *env) {
	e.needs(t, "instances", e.Instances != nil)
	s := e.Instances
	paris := time.FixedZone("CEST", 2*3600)
	a := &engine.InstanceRecord{Name: "Acme", Tags: []string{"prod", "eu"}, Token: "abc=", ElementKey: "examplev1",
		UserID: 1, OrganizationID: 1,
		Configuration: map[string]any{
			"username": "apikey-secret", "event.notification.enabled": true,
			"event.poller.refresh_interval": 1, "big": json.Number("12345678901234567890"),
			"event.poller.configuration": map[string]any{"tickets": map[string]any{"url": "/hubs/x?a=<b>&c"}},
			"unicode":                    "é\u2028\U0001F600",
		},
		CreatedAt: time.Date(2024, 1, 2, 3, 4, 5, 6000, paris)}
	if err := s.CreateInstance(ctx, a); err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || !a.UpdatedAt.Equal(a.CreatedAt) {
		t.Errorf("created %+v", a)
	}
	e.clock.Set(t0.Add(time.Minute))
	b := &engine.InstanceRecord{Name: "Bolt", Token: "def", ElementKey: "other", UserID: 1, OrganizationID: 1}
	if err := s.CreateInstance(ctx, b); err != nil {
		t.Fatal(err)
	}
	if b.ID <= a.ID || !b.CreatedAt.Equal(t0.Add(time.Minute)) || !b.UpdatedAt.Equal(b.CreatedAt) {
		t.Errorf("second instance %+v: want a greater id, dated by the store's clock", b)
	}
	if err := s.CreateInstance(ctx, &engine.InstanceRecord{Name: "dup", Token: "abc=", ElementKey: "x"}); err == nil {
		t.Error("duplicate token accepted")
	}
	for _, x := range []*engine.InstanceRecord{{Name: "n1", ElementKey: "x"}, {Name: "n2", ElementKey: "x"}} {
		if err := s.CreateInstance(ctx, x); err != nil {
			t.Errorf("empty tokens must not collide: %v", err)
		}
	}

	got, err := s.Instance(ctx, a.ID)
	if err != nil || !reflect.DeepEqual(got, instanceAsStored(a)) {
		t.Errorf("Instance\n got %#v (%v)\nwant %#v", got, err, instanceAsStored(a))
	}
	if got, err := s.InstanceByToken(ctx, "def"); err != nil || !reflect.DeepEqual(got, instanceAsStored(b)) {
		t.Errorf("InstanceByToken\n got %#v (%v)\nwant %#v", got, err, instanceAsStored(b))
	}
	for _, tok := range []string{"nope", ""} {
		if _, err := s.InstanceByToken(ctx, tok); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("InstanceByToken(%q): %v, want ErrNotFound", tok, err)
		}
	}
	if _, err := s.Instance(ctx, b.ID+1000); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Instance of an unknown id: %v, want ErrNotFound", err)
	}
	all, err := s.Instances(ctx, engine.Scope{})
	if err != nil || len(all) != 4 || !reflect.DeepEqual(all[0], instanceAsStored(a)) || all[1].ID != b.ID || all[2].ID >= all[3].ID {
		t.Errorf("Instances: %v %v", all, err)
	}

	upd := *got
	upd.Name, upd.Tags, upd.Disabled, upd.Token = "Acme 2", nil, true, "ghi"
	upd.Configuration = map[string]any{"username": "other"}
	upd.ElementKey = "examplev2"
	upd.CreatedAt, upd.UpdatedAt = time.Time{}, t0
	upd.UserID, upd.OrganizationID = 99, 99 // the owner does not change
	if err := s.UpdateInstance(ctx, &upd); err != nil {
		t.Fatal(err)
	}
	if !upd.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("UpdateInstance did not report CreatedAt: %v", upd.CreatedAt)
	}
	upd.UserID, upd.OrganizationID = 1, 1
	got2, _ := s.Instance(ctx, a.ID)
	if !reflect.DeepEqual(got2, instanceAsStored(&upd)) {
		t.Errorf("after update\n got %#v\nwant %#v", got2, instanceAsStored(&upd))
	}
	if _, err := s.InstanceByToken(ctx, "abc="); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("old token still found: %v", err)
	}
	// Undated: dated by the store's clock.
	e.clock.Set(t0.Add(2 * time.Minute))
	upd.UpdatedAt = time.Time{}
	if err := s.UpdateInstance(ctx, &upd); err != nil || !upd.UpdatedAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("undated update: %v %v", upd.UpdatedAt, err)
	}
	if err := s.UpdateInstance(ctx, &engine.InstanceRecord{ID: b.ID + 1000, Name: "x"}); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("UpdateInstance of an unknown id: %v, want ErrNotFound", err)
	}
	if err := s.DeleteInstance(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Instance(ctx, b.ID); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("deleted instance: %v", err)
	}
	if _, err := s.InstanceByToken(ctx, "def"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("deleted instance by token: %v", err)
	}
	if err := s.DeleteInstance(ctx, b.ID); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("DeleteInstance twice: %v", err)
	}
	// Its token is free again; a new instance never takes a deleted one's id.
	c := &engine.InstanceRecord{Name: "Bolt again", Token: "def", ElementKey: "other", UserID: 1, OrganizationID: 1}
	if err := s.CreateInstance(ctx, c); err != nil {
		t.Fatal(err)
	}
	if c.ID <= all[3].ID {
		t.Errorf("new instance id %d, want above every id used (%d)", c.ID, all[3].ID)
	}
	if all, err := s.Instances(ctx, engine.Scope{}); err != nil || len(all) != 4 {
		t.Errorf("Instances after delete: %d %v", len(all), err)
	}
}

// Instances lists a scope's instances; InstanceOwner names who owns, or owned, an instance.
func testInstanceScopes(t *testing.T, e *env) {
	e.needs(t, "instances", e.Instances != nil)
	s := e.Instances
	mk := func(name string, user, org int64) int64 {
		in := &engine.InstanceRecord{Name: name, ElementKey: "x", Token: "tok-" + name, UserID: user, OrganizationID: org}
		if err := s.CreateInstance(ctx, in); err != nil {
			t.Fatal(err)
		}
		return in.ID
	}
	a1, _, b1 := mk("a1", 10, 1), mk("a2", 11, 1), mk("b1", 20, 2)
	names := func(sc engine.Scope) string {
		recs, err := s.Instances(ctx, sc)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range recs {
			out = append(out, r.Name)
		}
		return strings.Join(out, ",")
	}
	for sc, want := range map[engine.Scope]string{
		{}:                                  "a1,a2,b1",
		{OrganizationID: 1}:                 "a1,a2",
		{OrganizationID: 1, UserID: 10}:     "a1",
		{OrganizationID: 2}:                 "b1",
		{OrganizationID: 1, InstanceID: b1}: "",
		{OrganizationID: 1, InstanceID: a1}: "a1",
		{OrganizationID: 3, UserID: 10}:     "",
	} {
		if got := names(sc); got != want {
			t.Errorf("%+v: %q, want %q", sc, got, want)
		}
	}
	if u, o, err := s.InstanceOwner(ctx, a1); err != nil || u != 10 || o != 1 {
		t.Errorf("owner: %d %d %v", u, o, err)
	}
	if err := s.DeleteInstance(ctx, b1); err != nil {
		t.Fatal(err)
	}
	if u, o, err := s.InstanceOwner(ctx, b1); err != nil || u != 20 || o != 2 {
		t.Errorf("owner of a deleted instance: %d %d %v", u, o, err)
	}
	if _, _, err := s.InstanceOwner(ctx, b1+1000); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("owner of an instance that never existed: %v, want ErrNotFound", err)
	}
	if got := names(engine.Scope{OrganizationID: 2}); got != "" {
		t.Errorf("a deleted instance is listed: %q", got)
	}
}

// Configurations are sealed at rest: none of their values is in the store's bytes in clear,
// after a create, an update and a delete; they read back whole.
func testSecretsSealed(t *testing.T, e *env) {
	e.needs(t, "instances", e.Instances != nil)
	e.needs(t, "raw bytes", e.Raw != nil)
	const secret = "fd-API-key-SEALED-91c2"
	in := &engine.InstanceRecord{Name: "a", ElementKey: "examplev1", Token: "t1", UserID: 1, OrganizationID: 1,
		Configuration: map[string]any{"username": secret, "event.notification.callback.url": "https://h.example.com/?token=cb-SEALED-77"}}
	if err := e.Instances.CreateInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	if raw := e.Raw(t); !bytes.Contains(raw, []byte("t1")) {
		t.Fatal("the test's premise fails: Raw does not hold the instance's token")
	}
	in.Configuration["event.notification.signature.key"] = "sig-SEALED-55"
	if err := e.Instances.UpdateInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	other := &engine.InstanceRecord{Name: "b", ElementKey: "examplev1", Token: "t2", UserID: 1, OrganizationID: 1,
		Configuration: map[string]any{"password": "pw-SEALED-13"}}
	if err := e.Instances.CreateInstance(ctx, other); err != nil {
		t.Fatal(err)
	}
	got, err := e.Instances.Instance(ctx, in.ID)
	if err != nil || got.Configuration["username"] != secret || got.Configuration["event.notification.signature.key"] != "sig-SEALED-55" {
		t.Fatalf("read back: %v %v", got, err)
	}
	if err := e.Instances.DeleteInstance(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	raw := e.Raw(t)
	for _, sec := range []string{secret, "cb-SEALED-77", "sig-SEALED-55", "pw-SEALED-13", "SEALED"} {
		if bytes.Contains(raw, []byte(sec)) {
			t.Errorf("%q in clear in the store", sec)
		}
	}
}

// Organizations and users: the bootstrap ones exist; names and emails are unique
// (engine.ErrConflict); a user is found by id, email and secret digest, and listed by
// organization.
func testUsersAndOrganizations(t *testing.T, e *env) {
	e.needs(t, "tenants", e.Tenants != nil)
	s := e.Tenants
	def, err := s.Organization(ctx, tenants.BootstrapOrganizationID)
	if err != nil || def.Name != "default" || def.SecretDigest != nil {
		t.Fatalf("bootstrap organization: %+v %v", def, err)
	}
	admin, err := s.User(ctx, tenants.BootstrapUserID)
	if err != nil || admin.Role != engine.RoleOrgAdmin || !admin.Active || admin.OrganizationID != tenants.BootstrapOrganizationID {
		t.Fatalf("bootstrap admin: %+v %v", admin, err)
	}
	if err := s.SetOrganizationSecret(ctx, def.ID, []byte("default-digest")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Organization(ctx, def.ID); err != nil || string(got.SecretDigest) != "default-digest" {
		t.Errorf("after SetOrganizationSecret: %+v %v", got, err)
	}
	if err := s.SetOrganizationSecret(ctx, 999, []byte("x")); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("SetOrganizationSecret of an unknown organization: %v, want ErrNotFound", err)
	}

	e.clock.Set(t0.Add(time.Minute))
	o := &engine.Organization{Name: "acme", SecretDigest: []byte("org-digest")}
	if err := s.CreateOrganization(ctx, o); err != nil {
		t.Fatal(err)
	}
	if o.ID == 0 || o.ID == def.ID || !o.CreatedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("created %+v", o)
	}
	if err := s.CreateOrganization(ctx, &engine.Organization{Name: "acme"}); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("duplicate name: %v, want ErrConflict", err)
	}
	if got, err := s.OrganizationByName(ctx, "acme"); err != nil || !reflect.DeepEqual(got, o) {
		t.Errorf("OrganizationByName\n got %+v %v\nwant %+v", got, err, o)
	}
	if _, err := s.OrganizationByName(ctx, "nope"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("OrganizationByName of an unknown name: %v", err)
	}
	if _, err := s.Organization(ctx, o.ID+1000); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Organization of an unknown id: %v", err)
	}
	if orgs, err := s.Organizations(ctx); err != nil || len(orgs) != 2 || orgs[0].ID != def.ID || orgs[1].Name != "acme" {
		t.Errorf("Organizations: %+v %v", orgs, err)
	}

	u := &engine.User{OrganizationID: o.ID, Email: "ann@acme.example", FirstName: "Ann", LastName: "Lee", Role: engine.RoleUser,
		Active: true, SecretDigest: []byte("user-digest")}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 || !u.CreatedAt.Equal(t0.Add(time.Minute)) || !u.UpdatedAt.Equal(u.CreatedAt) {
		t.Errorf("created %+v", u)
	}
	if err := s.CreateUser(ctx, &engine.User{OrganizationID: def.ID, Email: "ann@acme.example", Role: engine.RoleUser}); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("duplicate email: %v, want ErrConflict", err)
	}
	got, err := s.UserBySecret(ctx, []byte("user-digest"))
	if err != nil || !reflect.DeepEqual(got, u) {
		t.Fatalf("UserBySecret\n got %+v %v\nwant %+v", got, err, u)
	}
	if got, err := s.UserByEmail(ctx, "ann@acme.example"); err != nil || got.ID != u.ID {
		t.Errorf("UserByEmail: %+v %v", got, err)
	}
	if got, err := s.User(ctx, u.ID); err != nil || !reflect.DeepEqual(got, u) {
		t.Errorf("User: %+v %v", got, err)
	}
	for _, digest := range [][]byte{nil, {}, []byte("nope")} {
		if _, err := s.UserBySecret(ctx, digest); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("UserBySecret(%q): %v, want ErrNotFound", digest, err)
		}
	}
	if _, err := s.UserByEmail(ctx, "nobody@acme.example"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("UserByEmail of an unknown email: %v", err)
	}
	if _, err := s.User(ctx, u.ID+1000); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("User of an unknown id: %v", err)
	}

	e.clock.Set(t0.Add(2 * time.Minute))
	got.Active, got.SecretDigest, got.Role, got.FirstName = false, []byte("new-digest"), engine.RoleOrgAdmin, "Anne"
	if err := s.UpdateUser(ctx, got); err != nil {
		t.Fatal(err)
	}
	if !got.UpdatedAt.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("UpdateUser dated %v, want the store's now", got.UpdatedAt)
	}
	if _, err := s.UserBySecret(ctx, []byte("user-digest")); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("old digest still finds the user: %v", err)
	}
	if back, err := s.User(ctx, u.ID); err != nil || !reflect.DeepEqual(back, got) {
		t.Errorf("after UpdateUser\n got %+v %v\nwant %+v", back, err, got)
	}
	if err := s.UpdateUser(ctx, &engine.User{ID: u.ID + 1000, Email: "x@y", Role: engine.RoleUser}); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("UpdateUser of an unknown id: %v, want ErrNotFound", err)
	}
	v := &engine.User{OrganizationID: o.ID, Email: "bob@acme.example", Role: engine.RoleUser, Active: true}
	if err := s.CreateUser(ctx, v); err != nil {
		t.Fatal(err)
	}
	v.Email = "ann@acme.example"
	if err := s.UpdateUser(ctx, v); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("UpdateUser to a taken email: %v, want ErrConflict", err)
	}
	users, err := s.Users(ctx, o.ID)
	if err != nil || len(users) != 2 || users[0].ID != u.ID || users[0].Active || users[1].Email != "bob@acme.example" {
		t.Errorf("Users of acme: %+v %v", users, err)
	}
	if users, err := s.Users(ctx, 0); err != nil || len(users) != 3 || users[0].ID != admin.ID {
		t.Errorf("Users of every organization: %+v %v", users, err)
	}
}
