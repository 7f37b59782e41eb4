package engine

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// catalogWith returns the shipped catalog with the contacts resource replaced by one compiled
// from spec, or removed when spec is nil.
func catalogWith(t *testing.T, contacts *ResourceSpec) *Catalog {
	t.Helper()
	base := testCatalog(t)
	el, _ := base.Element("freshdeskv2")
	rs := map[string]*Resource{}
	for name, r := range el.Resources {
		rs[name] = r
	}
	delete(rs, "contacts")
	if contacts != nil {
		r, err := CompileResource(el, "contacts", *contacts)
		if err != nil {
			t.Fatal(err)
		}
		rs["contacts"] = r
	}
	cat, err := NewCatalog(el.WithResources(rs))
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func TestRuntimeReloadTouchesOnlyWhatChanged(t *testing.T) {
	cat := testCatalog(t)
	rt := NewRuntime(RuntimeOptions{Catalog: cat})
	tickets := testInstance(t, "incidents", `{}`)
	tickets.ID = 1
	contacts := testInstance(t, "contacts", `{}`)
	contacts.ID = 2
	rt.Apply(tickets)
	rt.Apply(contacts)

	// The same definitions again: nothing is touched.
	rt.Reload(testCatalog(t))
	if in, _ := rt.Instance(1); in != tickets {
		t.Error("unchanged instance 1 was recompiled")
	}
	if in, _ := rt.Instance(2); in != contacts {
		t.Error("unchanged instance 2 was recompiled")
	}

	// contacts.json changes: only the instance polling contacts picks it up.
	el, _ := cat.Element("freshdeskv2")
	spec := el.Resources["contacts"].Spec
	spec.PageSize = 50
	rt.Reload(catalogWith(t, &spec))
	if in, _ := rt.Instance(1); in != tickets {
		t.Error("instance 1 does not poll contacts, yet was recompiled")
	}
	in2, _ := rt.Instance(2)
	if j, ok := in2.Job("contacts"); in2 == contacts || !ok || j.pageSize != 50 {
		t.Fatalf("instance 2 does not use the changed contacts definition")
	}

	// contacts.json removed: its job pauses, visibly; it comes back when the file does.
	rt.Reload(catalogWith(t, nil))
	st := rt.Status(2)
	if len(st) != 1 || st[0].State != "paused" || st[0].Reason == "" {
		t.Fatalf("status after removal: %+v", st)
	}
	if rt.Jobs() != 1 {
		t.Errorf("scheduled jobs: %d, want 1 (the paused one is not scheduled)", rt.Jobs())
	}
	rt.Reload(catalogWith(t, &spec))
	if st := rt.Status(2); len(st) != 1 || st[0].State != "polling" {
		t.Fatalf("status after the file came back: %+v", st)
	}
	if rt.Jobs() != 2 {
		t.Errorf("scheduled jobs: %d, want 2", rt.Jobs())
	}
}

type vendorErr struct {
	status int
	code   string
}

func (e vendorErr) Error() string         { return "vendor said no" }
func (e vendorErr) HTTPStatus() int       { return e.status }
func (e vendorErr) VendorCode() string    { return e.code }
func (e vendorErr) VendorMessage() string { return "" }

func TestRuntimeSuspendsWhatTheVendorRefuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// In a synctest bubble: the suspensions' timers fire only when the test sleeps past them.
		rt := NewRuntime(RuntimeOptions{Catalog: testCatalog(t), SuspendFor: 15 * time.Minute})
		in := testInstance(t, "incidents", `{}`)
		in.ID = 7
		rt.Apply(in)

		// 403 require_feature: that job pauses; 401: the whole instance is invalid.
		rt.refused(PollEvent{Key: JobKey{InstanceID: 7, ObjectType: "incidents"}, Err: fmt.Errorf("list: %w", vendorErr{403, "require_feature"})})
		if st := rt.Status(7); len(st) != 1 || st[0].State != "paused" || !strings.Contains(st[0].Reason, "403") {
			t.Fatalf("after 403: %+v", st)
		}
		if ok, _ := rt.Valid(7); !ok {
			t.Error("a 403 made the whole instance invalid")
		}
		rt.Apply(in) // a new configuration tries again at once
		rt.refused(PollEvent{Key: JobKey{InstanceID: 7, ObjectType: "incidents"}, Err: vendorErr{401, "invalid_credentials"}})
		if ok, why := rt.Valid(7); ok || !strings.Contains(why, "401") {
			t.Fatalf("after 401: valid %v %q", ok, why)
		}
		if rt.Jobs() != 0 {
			t.Errorf("%d jobs scheduled for a suspended instance", rt.Jobs())
		}
		// Other errors are passing faults: nothing is suspended.
		rt.Apply(in)
		rt.refused(PollEvent{Key: JobKey{InstanceID: 7, ObjectType: "incidents"}, Err: vendorErr{503, ""}})
		if ok, _ := rt.Valid(7); !ok || rt.Jobs() != 1 {
			t.Fatal("a 503 suspended the instance")
		}
		// After SuspendFor the vendor is tried again.
		rt.refused(PollEvent{Key: JobKey{InstanceID: 7, ObjectType: "incidents"}, Err: vendorErr{401, ""}})
		time.Sleep(15*time.Minute - time.Second)
		synctest.Wait()
		if ok, _ := rt.Valid(7); ok {
			t.Fatal("tried again before SuspendFor")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if ok, _ := rt.Valid(7); !ok {
			t.Fatal("not tried again after SuspendFor")
		}
		if rt.Jobs() != 1 {
			t.Errorf("%d jobs after the retry, want 1", rt.Jobs())
		}
	})
}

// Instances counts what the runtime holds, disabled instances included; Remove drops it.
func TestRuntimeInstances(t *testing.T) {
	rt := NewRuntime(RuntimeOptions{Catalog: testCatalog(t)})
	if n := rt.Instances(); n != 0 {
		t.Fatalf("Instances %d on a new runtime", n)
	}
	a := testInstance(t, "incidents", `{}`)
	a.ID = 1
	b := testInstance(t, "contacts", `{}`)
	b.ID, b.Disabled = 2, true
	rt.Apply(a)
	rt.Apply(b)
	rt.Apply(a) // again: still one instance
	if n := rt.Instances(); n != 2 {
		t.Errorf("Instances %d, want 2", n)
	}
	rt.Remove(1)
	if n := rt.Instances(); n != 1 {
		t.Errorf("Instances %d after Remove, want 1", n)
	}
}

// An instance whose every poll keeps failing says so in Valid; a success clears it. Status shows
// each job's consecutive failures, its next poll, and a record that holds it.
func TestRuntimeTellsTheTruth(t *testing.T) {
	rt := NewRuntime(RuntimeOptions{Catalog: testCatalog(t)})
	in := testInstance(t, "incidents", `{}`)
	in.ID = 7
	rt.Apply(in)
	key := JobKey{InstanceID: 7, ObjectType: "incidents"}
	fail := PollEvent{Key: key, At: time.Now(), Err: fmt.Errorf("vendor: GET x: %w", vendorErr{503, ""})}
	for i := 1; i <= failingAfter; i++ {
		if ok, _ := rt.Valid(7); !ok {
			t.Fatalf("invalid after %d failures", i-1)
		}
		rt.sched.onPoll(fail)
	}
	ok, why := rt.Valid(7)
	if ok || !strings.Contains(why, "failed") || !strings.Contains(why, "vendor said no") {
		t.Errorf("after %d failures: valid %v %q", failingAfter, ok, why)
	}
	st := rt.Status(7)
	if len(st) != 1 || st[0].State != "failing" || st[0].Failures != failingAfter || st[0].NextPoll.IsZero() {
		t.Errorf("status %+v", st)
	}
	rt.sched.onPoll(PollEvent{Key: key, At: time.Now(), Result: PollResult{Held: "record 9: no date", HeldKey: "9"}})
	if ok, _ := rt.Valid(7); !ok {
		t.Error("a poll that worked left the instance invalid")
	}
	st = rt.Status(7)
	if st[0].State != "held" || st[0].Failures != 0 || st[0].HeldRecord != "9" {
		t.Errorf("status %+v", st)
	}
	// An operator's skip reaches the next poll, and is dropped once a poll committed it.
	if !rt.SkipRecord(7, "incidents", "9") || rt.SkipRecord(7, "contacts", "9") || rt.SkipRecord(8, "incidents", "9") {
		t.Error("SkipRecord accepted or refused the wrong job")
	}
	if got := rt.skipped(key); len(got) != 1 || got[0] != "9" {
		t.Errorf("skips %v", got)
	}
	rt.sched.onPoll(PollEvent{Key: key, At: time.Now(), Result: PollResult{Commits: 1}})
	if got := rt.skipped(key); len(got) != 0 {
		t.Errorf("skips %v after a commit", got)
	}
}
