package engine

import (
	"fmt"
	"net/url"
)

// Answers groups a trial's requests by vendor query, as a golden case records them: a page
// whose answer carried a Link rel="next" is followed by the next page of the same answer.
func (t *Trial) Answers() [][]int {
	var out [][]int
	open := false
	for i, r := range t.Requests {
		if !open {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], i)
		open = r.Err == nil && nextLink(r.Page.Header) != ""
	}
	return out
}

// Query prints request i as golden files print vendor queries (GET path?query, parameters
// sorted), masked and scrubbed of the instance's secrets.
func (t *Trial) Query(i int, in *Instance) string {
	u, err := url.Parse(MaskURL(t.Requests[i].URL))
	if err != nil {
		return ""
	}
	return in.Scrub("GET " + u.Path + "?" + u.Query().Encode())
}

// Samples are the trial's pages as Lint reads recorded ones: one poll, its queries. Page n is
// request n of the trial (counted from 1).
func (t *Trial) Samples(in *Instance) []SampleQuery {
	var out []SampleQuery
	for _, idx := range t.Answers() {
		q := SampleQuery{Query: t.Query(idx[0], in)}
		for _, i := range idx {
			r := t.Requests[i]
			if r.Err == nil {
				q.Pages = append(q.Pages, SamplePage{Name: fmt.Sprintf("page %d", i+1), Body: r.Page.Body})
			}
		}
		out = append(out, q)
	}
	return out
}
