package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/enginetest"
)

// pollerFor returns a poller of an instance polling Freshdesk tickets, over fakes, at 10:15 on the
// instance's creation day.
func pollerFor(t *testing.T) (*engine.Poller, *engine.Instance, *engine.JobSpec, *countingStore, *enginetest.PageSource) {
	t.Helper()
	in := engine.NewTestInstance(t, "incidents", `{"url":"/hubs/helpdesk/incidents?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'"}`)
	job, _ := in.Job("incidents")
	store := &countingStore{MemStore: enginetest.NewMemStore()}
	src := &enginetest.PageSource{}
	p := &engine.Poller{Source: src, Store: store, Clock: &enginetest.FixedClock{T: in.CreatedAt.Add(15 * time.Minute)}, Account: benchAccount}
	return p, in, job, store, src
}

// A record whose id and dates read well but that is not valid JSON cannot reach a receiver: the
// notification is not built, the poll fails and commits nothing, and the cursor stays.
func TestPollFailsOnRecordThatIsNotJSON(t *testing.T) {
	for name, extra := range map[string]string{
		"bad literal":      `,"flag":tru`,
		"trailing comma":   `,"tags2":["a",]`,
		"control in value": ",\"s\":\"a\x01b\"",
	} {
		t.Run(name, func(t *testing.T) {
			p, in, job, store, src := pollerFor(t)
			good := engine.TicketJSON(1, "2024-03-01T10:01:00Z", "2024-03-01T10:01:00Z", "")
			bad := engine.TicketJSON(2, "2024-03-01T10:02:00Z", "2024-03-01T10:02:00Z", extra)
			src.Answers = [][][]byte{{[]byte("[" + good + "," + bad + "]")}}
			res, err := p.Poll(context.Background(), in, job)
			if err == nil || !strings.Contains(err.Error(), "record 2: ") {
				t.Fatalf("poll: %+v, error %v; want an error", res, err)
			}
			if store.commits != 0 || len(store.Events) != 0 {
				t.Fatalf("%d commits, %d events stored; want none", store.commits, len(store.Events))
			}
			if _, found, _ := store.Cursor(context.Background(), engine.JobKey{InstanceID: in.ID, ObjectType: "incidents"}); found {
				t.Fatal("a cursor was written")
			}
		})
	}
}
