package engine

import (
	"fmt"
	"strings"
	"testing"
)

// lintJob compiles a shipped resource definition, changed by edit, and returns its default job.
func lintJob(t *testing.T, element, resource string, edit func(*ResourceSpec)) *JobSpec {
	t.Helper()
	var es ElementSpec
	readSpec(t, "../definitions/"+element+"/element.json", &es)
	el, err := CompileElement(es)
	if err != nil {
		t.Fatal(err)
	}
	var rs ResourceSpec
	readSpec(t, "../definitions/"+element+"/resources/"+resource+".json", &rs)
	if edit != nil {
		edit(&rs)
	}
	r, err := CompileResource(el, resource, rs)
	if err != nil {
		t.Fatal(err)
	}
	return r.Default
}

// tickets is a page of Freshdesk tickets updated at the given minutes past 10:00.
func tickets(minutes ...int) string {
	var recs []string
	for i, m := range minutes {
		at := fmt.Sprintf("2024-03-01T10:%02d:00Z", m)
		recs = append(recs, ticketJSON(100+i, at, at, ""))
	}
	return "[" + strings.Join(recs, ",") + "]"
}

// zendeskPage is a page of the ticket export, its end flag as given.
func zendeskPage(end bool, next string) string {
	return fmt.Sprintf(`{"tickets": [{"id": 1, "status": "open", "created_at": "2024-03-01T10:00:00Z", "updated_at": "2024-03-01T10:01:00Z"}],
		"after_url": %q, "after_cursor": "x", "end_of_stream": %t}`, next, end)
}

// Lint finds what pages show against a definition, each on the document and field at fault.
func TestLint(t *testing.T) {
	q := func(query string, pages ...string) SampleQuery {
		sq := SampleQuery{Query: query}
		for i, p := range pages {
			sq.Pages = append(sq.Pages, SamplePage{Name: fmt.Sprintf("p%d.json", i+1), Body: []byte(p)})
		}
		return sq
	}
	const changes = "GET /api/v2/tickets?order_by=updated_at&order_type=asc&per_page=100&updated_since=2024-03-01T10%3A00%3A00Z"
	for _, c := range []struct {
		name      string
		element   string // default freshdeskv2
		resource  string // default incidents
		edit      func(*ResourceSpec)
		polls     [][]SampleQuery
		want      []string // "place pointer: message prefix", in order
		wantNoMsg string   // a message that must not appear
	}{
		{name: "pages as the definition says", polls: [][]SampleQuery{{q(changes, tickets(1, 2, 2, 5))}}},
		{name: "wrong records path", edit: func(r *ResourceSpec) { r.Records = "tickets" },
			polls: [][]SampleQuery{{q(changes, tickets(1, 2))}},
			want:  []string{`resource /records: "tickets" finds no array of records in p1.json; the page is itself the array: use "@this"`}},
		{name: "records path into an object", element: "zendesk", edit: func(r *ResourceSpec) { r.Records = "ticket" },
			polls: [][]SampleQuery{{q("", zendeskPage(true, ""))}},
			want:  []string{`resource /records: "ticket" finds no array of records in p1.json; the page is an object with keys tickets, after_url, after_cursor, end_of_stream; arrays are at "tickets"`}},
		{name: "a date format that does not read", edit: func(r *ResourceSpec) {
			r.Polling.DatesConfiguration.UpdatedDateFormat = "dd/MM/yyyy HH:mm"
		}, polls: [][]SampleQuery{{q(changes, tickets(1, 2))}},
			want: []string{`poller /datesConfiguration/updatedDateFormat: "dd/MM/yyyy HH:mm" does not read 2 of 2 updated_at values (first: p1.json record 1, "2024-03-01T10:01:00Z"`}},
		{name: "a date field not in the records", edit: func(r *ResourceSpec) {
			r.Polling.DatesConfiguration.CreatedDateField = "created"
		}, polls: [][]SampleQuery{{q(changes, tickets(1))}},
			want: []string{`poller /datesConfiguration/createdDateField: "created" is missing or null in 1 of 1 records (first: p1.json record 1, which has keys cc_emails`}},
		{name: "no id", edit: func(r *ResourceSpec) { r.Polling.IDField = "ticket.id" },
			polls: [][]SampleQuery{{q(changes, tickets(1, 2))}},
			want:  []string{`poller /idField: "ticket.id" is not a string or number in 2 of 2 records (first: p1.json record 1`}},
		{name: "reversed updatedOrder", edit: func(r *ResourceSpec) { r.UpdatedOrder = "desc" },
			polls: [][]SampleQuery{{q(changes, tickets(1, 2), tickets(3, 4))}},
			want:  []string{`resource /updatedOrder: is "desc", but the vendor does not list this query newest first: p1.json record 2 (updated 2024-03-01T10:02:00Z) comes after p1.json record 1 (updated 2024-03-01T10:01:00Z)`}},
		{name: "out of order across the pages of a query",
			polls: [][]SampleQuery{{q(changes, tickets(1, 5), tickets(3))}},
			want:  []string{`resource /updatedOrder: is "asc", but the vendor does not list this query oldest first: p2.json record 1`}},
		{name: "a reverse query is newest first",
			polls: [][]SampleQuery{{q(changes, tickets(1, 2)), q(strings.Replace(changes, "order_type=asc", "order_type=desc", 1), tickets(2, 1))}}},
		{name: "a filter on a field that does not exist", edit: func(r *ResourceSpec) { r.Filter = "record.priorty >= 1 && record.custom_fields.cf_regoin != nil" },
			polls: [][]SampleQuery{{q(changes, tickets(1))}},
			want: []string{
				`resource /filter: the filter reads record.custom_fields.cf_regoin, which is in no record of the samples (p1.json record 1 has keys`,
				`resource /filter: the filter reads record.priorty, which is in no record of the samples`,
			},
			wantNoMsg: "record.custom_fields,"},
		{name: "a filter comparing with the wrong type", edit: func(r *ResourceSpec) { r.Filter = `record.status == "open" || record.tags[0] in [1, 2]` },
			polls: [][]SampleQuery{{q(changes, tickets(1))}},
			want: []string{
				`resource /filter: the filter compares record.status with a string, but the samples hold number there: no record can match`,
				`resource /filter: the filter compares record.tags.0 with a number, but the samples hold string there`,
			}},
		{name: "a where clause comparing with the wrong type", edit: func(r *ResourceSpec) {
			r.Polling.URL += " AND type = 4"
		}, polls: [][]SampleQuery{{q(changes, tickets(1))}},
			want: []string{`poller /url: the where clause compares record.type with a number, but the samples hold string there`}},
		{name: "a declared field type that does not hold", edit: func(r *ResourceSpec) { r.Fields["status"] = "string" },
			polls: [][]SampleQuery{{q(changes, tickets(1))}},
			want:  []string{`resource /fields/status: is declared string, but p1.json record 1 holds a number 2`}},
		{name: "the deleted signal false for what the deleted query lists",
			polls: [][]SampleQuery{{q(changes, tickets(1)), q(strings.Replace(changes, "order_by", "filter=deleted&order_by", 1), tickets(2))}},
			want:  []string{`resource /deleted/when: is false for p1.json record 1, which the deleted query (filter=deleted) lists`}},
		{name: "the deleted signal true for it",
			polls: [][]SampleQuery{{q(strings.Replace(changes, "order_by", "filter=deleted&order_by", 1), "["+ticketJSON(1, "2024-03-01T10:00:00Z", "2024-03-01T10:00:00Z", `,"deleted":true`)+"]")}}},
		{name: "body paging that ends where the recording does", element: "zendesk",
			polls: [][]SampleQuery{{q("", zendeskPage(false, "https://a/next?c=1"), zendeskPage(true, ""))}}},
		{name: "body paging that goes on past the recording", element: "zendesk",
			polls: [][]SampleQuery{{q("", zendeskPage(false, "https://a/next?c=1"))}},
			want:  []string{`element /paging: p1.json, the last page its poll recorded, names a next page at "after_url", "end_of_stream" not true: paging would not end there`}},
		{name: "body paging that ends before the recording does", element: "zendesk",
			polls: [][]SampleQuery{{q("", zendeskPage(true, ""), zendeskPage(true, ""))}},
			want:  []string{`element /paging: paging ends at p1.json (no next page at "after_url", "end_of_stream" not true), yet p2.json follows it in the same query`}},
		{name: "body paging that loops", element: "zendesk",
			polls: [][]SampleQuery{{q("", zendeskPage(false, "https://a/1"), zendeskPage(false, "https://a/2"), zendeskPage(false, "https://a/1"), zendeskPage(true, ""))}},
			want:  []string{`element /paging/nextPath: paging loops: p1.json and p3.json name the same next page at "after_url"`}},
		{name: "page paging whose last page is full", edit: func(r *ResourceSpec) {
			r.Paging = &PagingSpec{Type: "page", PageParam: "page"}
			r.PageSize = 2
		}, polls: [][]SampleQuery{{q(changes, tickets(1, 2))}},
			want: []string{`resource /paging: p1.json, the last page its poll recorded, is full (2 records of 2): paging by page number would ask for another page`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			el, res := c.element, c.resource
			if el == "" {
				el = "freshdeskv2"
			}
			if res == "" {
				res = "incidents"
			}
			job := lintJob(t, el, res, c.edit)
			var got []string
			for _, f := range job.Lint(c.polls) {
				got = append(got, fmt.Sprintf("%s %s: %s", f.Place, f.Pointer, f.Msg))
			}
			if len(got) != len(c.want) {
				t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], c.want[i]) {
					t.Errorf("finding %d:\n%s\nwant a prefix:\n%s", i, got[i], c.want[i])
				}
				if c.wantNoMsg != "" && strings.Contains(got[i], c.wantNoMsg) {
					t.Errorf("finding %d holds %q: %s", i, c.wantNoMsg, got[i])
				}
			}
		})
	}
}
