package instances

import (
	"context"
	"testing"

	"github.com/pollen-hq/pollen/engine"
)

// Two services over one store, as two nodes: a change made through one reaches the other by
// Refresh (a notice) or by Sync (the periodic re-read), deletions included.
func TestRefreshAndSyncApplyChangesMadeElsewhere(t *testing.T) {
	a, st, _ := newService(t)
	var told []int64
	a.changed = func(id int64) { told = append(told, id) }
	b, _, rtB := newService(t)
	b.store = st
	ctx := context.Background()
	p := engine.Principal{UserID: 1, OrganizationID: 1, Role: engine.RoleOrgAdmin}

	in, err := a.Create(ctx, p, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	id := in.Record.ID
	if len(told) != 1 || told[0] != id {
		t.Fatalf("create told %v", told)
	}
	if err := b.Refresh(ctx, id); err != nil || rtB.applied[id] == nil {
		t.Fatalf("refresh after create: %v %v", err, rtB.applied)
	}
	if n, err := b.Sync(ctx); err != nil || n != 0 {
		t.Errorf("sync with nothing changed applied %d (%v)", n, err)
	}

	// A change whose notice is missed is applied by the next Sync.
	if _, err := a.Patch(ctx, p, id, []byte(`{"name":"renamed"}`)); err != nil {
		t.Fatal(err)
	}
	if len(told) != 2 {
		t.Errorf("patch told %v", told)
	}
	if n, err := b.Sync(ctx); err != nil || n != 1 || rtB.applied[id].Name != "renamed" {
		t.Errorf("sync after a missed patch: %d %v %q", n, err, rtB.applied[id].Name)
	}
	if _, _, err := a.SetDisabledID(ctx, p, id, true); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(ctx, id); err != nil || !rtB.applied[id].Disabled {
		t.Errorf("refresh after disable: %v", err)
	}

	// Deleted: Refresh stops it; so does Sync when the notice was missed.
	if err := a.Delete(ctx, p, id); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(ctx, id); err != nil || rtB.applied[id] != nil {
		t.Errorf("refresh after delete: %v %v", err, rtB.applied)
	}
	in2, err := a.Create(ctx, p, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Sync(ctx); err != nil || rtB.applied[in2.Record.ID] == nil {
		t.Fatalf("sync after a missed create: %v", err)
	}
	if err := a.Delete(ctx, p, in2.Record.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Sync(ctx); err != nil || n != 1 || len(rtB.applied) != 0 {
		t.Errorf("sync after a missed delete: %d %v %v", n, err, rtB.applied)
	}
}
