package kernel

import "net/http"

// Overlapping walks. A walk is one list query paged from its first page on: the pages of one
// query (its parameters other than "page") of one resource. A poller walks each query of a job
// one page after the other, and polls a job from one place at a time: two walks of one resource
// of one account under way at once mean the job was polled twice at once (when the account has
// one instance: a simulator shared by several instances sees their walks overlap legitimately).
//
// The simulator has no name for its callers, so it tells walks apart by what they ask, and
// counts an overlap (Stats.WalkOverlaps, by resource) when a page of a resource arrives
//
//   - while another page of that resource is being served (InFlight): a walk asks for its next
//     page only after it read the previous one; or
//   - asking for page n > 1 of a query when the page of that resource asked just before was
//     neither page n-1 of the same query nor page n itself (a retry): another walk came between
//     two pages of this one. This needs numbered pages (Route.PageNumber).
//
// A walk abandoned by a poller that died is never counted: it asks for nothing more. Two walks of
// one query that ask for the same pages in lockstep look like one walk with retries, unless their
// pages are served at the same moment.

// walkState is, per resource, the page asked for last.
type walkState struct {
	query string // the query without its page parameter; "" for a page with no number
	page  int
}

// walkQuery identifies the query of a numbered page: its path and parameters without "page".
func walkQuery(r *http.Request, rt Route) string {
	if rt.PageNumber <= 0 {
		return ""
	}
	q := r.URL.Query()
	q.Del("page")
	return r.URL.Path + "?" + q.Encode()
}

// arriveWalk records a page's arrival and counts an overlap it shows. k.mu is held; inFlight is
// the resource's pages being served before this one arrived.
func (k *Kernel) arriveWalk(rt Route, query string, inFlight int) {
	prev, seen := k.lastPage[rt.Resource]
	k.lastPage[rt.Resource] = walkState{query: query, page: rt.PageNumber}
	overlap := inFlight > 0
	if !overlap && seen && query != "" && rt.PageNumber > 1 {
		own := prev.query == query && (prev.page == rt.PageNumber-1 || prev.page == rt.PageNumber)
		overlap = !own
	}
	if overlap {
		k.stats.WalkOverlaps++
		k.stats.WalkOverlapsByResource[rt.Resource]++
	}
}
