package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/enginetest"
)

// countingStore is an enginetest.MemStore that counts the commits it is asked for.
type countingStore struct {
	*enginetest.MemStore
	commits int
}

func (s *countingStore) CommitPoll(ctx context.Context, c engine.Commit) error {
	s.commits++
	return s.MemStore.CommitPoll(ctx, c)
}

var benchAccount = engine.Account{AccountID: 1, CompanyID: 1, UserID: 1, User: "pollen"}

// BenchmarkPollPage is one whole poll through Poller.Poll: the vendor answers one page of 100
// realistic Freshdesk tickets, all changed since the cursor (100 events, 10 notifications), and
// the deleted query an empty page; the in-memory store commits them. Each iteration starts from
// a fresh store holding the cursor at the instance's creation (a few allocations of the fakes'
// own are measured with the poll). Reports records/s.
func BenchmarkPollPage(b *testing.B) {
	ctx := context.Background()
	in := engine.NewTestInstance(b, "incidents", `{"url":"/hubs/helpdesk/incidents?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'"}`)
	job, _ := in.Job("incidents")
	key := engine.JobKey{InstanceID: in.ID, ObjectType: "incidents"}
	start := engine.Cursor{Streams: map[string]*engine.Mark{
		engine.StreamChanges: {Since: in.CreatedAt},
		engine.StreamDeleted: {Since: in.CreatedAt},
	}}
	page := engine.TicketPage(100)
	src := &enginetest.PageSource{}
	p := &engine.Poller{Source: src, Clock: &engine.FixedClock{T: in.CreatedAt.Add(15 * time.Minute)}, Account: benchAccount}
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		store := enginetest.NewMemStore()
		if err := store.CommitPoll(ctx, engine.Commit{Key: key, Cursor: start}); err != nil {
			b.Fatal(err)
		}
		p.Store = store
		src.Answers, src.Requests = [][][]byte{{page}}, nil
		res, err := p.Poll(ctx, in, job)
		if err != nil {
			b.Fatal(err)
		}
		if res.Records != 100 || res.Events != 100 || len(store.Events) != 100 || len(store.Notifications) != 10 {
			b.Fatalf("read %d records, %d events, stored %d events in %d notifications; want 100, 100, 100, 10",
				res.Records, res.Events, len(store.Events), len(store.Notifications))
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkPollIdle is the steady state of most jobs: a poll that finds nothing new. In
// "boundary" the vendor answers the inclusive re-read of the cursor's second (the three tickets
// already seen there); in "empty" it answers an empty page. Reports ns/poll, allocations, and
// how many store commits a poll asked for.
func BenchmarkPollIdle(b *testing.B) {
	for _, tc := range []struct {
		name    string
		records int // on the page the vendor answers
	}{
		{"boundary", 3},
		{"empty", 0},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			in := engine.NewTestInstance(b, "incidents", `{"url":"/hubs/helpdesk/incidents?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'"}`)
			job, _ := in.Job("incidents")
			now := in.CreatedAt.Add(15 * time.Minute)
			upd := in.CreatedAt.Add(5 * time.Minute).Format(time.RFC3339)
			boundary := []byte("[")
			for i := range 3 {
				if i > 0 {
					boundary = append(boundary, ',')
				}
				boundary = append(boundary, engine.TicketJSON(2000+i, "2024-02-01T09:00:00Z", upd, "")...)
			}
			boundary = append(boundary, ']')
			page := boundary
			if tc.records == 0 {
				page = []byte("[]")
			}
			store := &countingStore{MemStore: enginetest.NewMemStore()}
			src := &enginetest.PageSource{}
			p := &engine.Poller{Source: src, Store: store, Clock: &engine.FixedClock{T: now}, Account: benchAccount}
			// The first poll reads the three tickets, all updated in one second: the cursor stops
			// at that second and remembers them.
			src.Answers = [][][]byte{{boundary}}
			if res, err := p.Poll(ctx, in, job); err != nil || res.Events != 3 {
				b.Fatalf("first poll: %d events, %v", res.Events, err)
			}
			store.commits = 0
			b.ReportAllocs()
			for b.Loop() {
				src.Answers, src.Requests = [][][]byte{{page}}, nil
				res, err := p.Poll(ctx, in, job)
				if err != nil {
					b.Fatal(err)
				}
				if res.Events != 0 || res.Records != tc.records || res.Pages != 2 {
					b.Fatalf("idle poll read %d pages, %d records, %d events; want 2, %d, 0", res.Pages, res.Records, res.Events, tc.records)
				}
			}
			b.ReportMetric(float64(store.commits)/float64(b.N), "commits/poll")
		})
	}
}
