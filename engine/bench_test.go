package engine

import (
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// BenchmarkRecordPath measures the per-record path (extract id and dates with gjson, window and
// de-duplicate, residual CEQL filter, deleted signal, classify, build the event) over a page of
// 100 realistic Freshdesk tickets, and reports records/s.
func BenchmarkRecordPath(b *testing.B) {
	in := testInstance(b, "incidents", `{"url":"/hubs/helpdesk/incidents?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}' AND (status = 2 OR priority > 1)"}`)
	job, _ := in.Job("incidents")
	page := Page{Body: ticketPage(100)}
	mark := &Mark{Since: in.CreatedAt}
	now := in.CreatedAt.Add(15 * time.Minute)
	b.SetBytes(int64(len(page.Body)))
	b.ReportAllocs()
	b.ResetTimer()
	events := 0
	for i := 0; i < b.N; i++ {
		w := testWalk(in, job, StreamChanges, mark, now)
		if _, err := w.page(&page); err != nil {
			b.Fatal(err)
		}
		events += len(w.events)
	}
	b.StopTimer()
	if events == 0 {
		b.Fatal("no events")
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkGJSONScan is the floor the record path is measured against: gjson walking the same
// page and reading each record's id and updated_at, nothing else.
func BenchmarkGJSONScan(b *testing.B) {
	body := string(ticketPage(100))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		gjson.Get(body, "@this").ForEach(func(_, rec gjson.Result) bool {
			if gjson.Get(rec.Raw, "id").Exists() && gjson.Get(rec.Raw, "updated_at").Exists() {
				n++
			}
			return true
		})
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkBuildNotifications packs one poll's 100 events of realistic tickets into
// notifications of 10, as a commit does.
func BenchmarkBuildNotifications(b *testing.B) {
	in := testInstance(b, "incidents", `{}`)
	job, _ := in.Job("incidents")
	w := testWalk(in, job, StreamChanges, &Mark{Since: in.CreatedAt}, in.CreatedAt.Add(15*time.Minute))
	if _, err := w.page(&Page{Body: ticketPage(100)}); err != nil {
		b.Fatal(err)
	}
	if len(w.events) != 100 {
		b.Fatalf("%d events", len(w.events))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		notes, err := BuildNotifications(in, Account{AccountID: 1, CompanyID: 1, UserID: 1, User: "pollen"}, "incidents", w.jd.now, w.events)
		if err != nil || len(notes) != 10 {
			b.Fatal(len(notes), err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}
