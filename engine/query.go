package engine

import (
	"net/url"
	"time"
)

// vendorQuery is one vendor query of a resource, before paging: the one place where polls and hub
// calls build what they ask the vendor.
type vendorQuery struct {
	res    *Resource
	pushed []pushedParam // where conditions the vendor evaluates
	// Macro times: the change cursor's parameter is filled with at, the others with lower. No
	// parameter is filled with a time after ceiling (minAge: the vendor refuses or omits the most
	// recent changes); zero = no ceiling.
	at, lower, ceiling time.Time
	token              string      // the vendor's own cursor (Resource.Spec.Resume), sent instead of the change cursor
	sort               [][2]string // sort parameters of a hub call's orderBy
	reverse            bool        // newest first (Resource.reverseQuery)
	deleted            bool        // the resource's deleted query
}

// values is the query's URL parameters, paging left out.
func (q *vendorQuery) values() url.Values {
	r := q.res
	v := make(url.Values, len(r.query)+len(q.pushed)+len(q.sort)+2)
	for k, vs := range r.query {
		v[k] = vs
	}
	if q.reverse {
		for k, vs := range r.reverseQuery {
			v[k] = vs
		}
	}
	resuming := r.Spec.Resume != nil && q.token != ""
	for _, p := range q.pushed {
		if p.cursor && resuming {
			continue // the vendor's own cursor says where to go on from
		}
		t := q.lower
		if p.cursor {
			t = q.at
		}
		if !q.ceiling.IsZero() && t.After(q.ceiling) {
			t = q.ceiling
		}
		v.Set(p.param, p.value.Expand(t))
	}
	if resuming {
		v.Set(r.Spec.Resume.Param, q.token)
	}
	for _, kv := range q.sort {
		v.Set(kv[0], kv[1])
	}
	if q.deleted {
		for k, vs := range r.deletedQuery {
			v[k] = vs
		}
	}
	return v
}

// request is the Source request of one page of the resource at the instance's vendor.
func (r *Resource) request(in *Instance, u *url.URL) Request {
	return Request{Endpoint: in.Endpoint, URL: u.String(), RateLimit: in.Element.Spec.RateLimit, Limit: r.limit, JSON: true}
}
