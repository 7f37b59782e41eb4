package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/expr-lang/expr/vm"
	"github.com/tidwall/gjson"
)

// Verdict is what the judge made of one record.
type Verdict uint8

// Verdicts. Only VerdictEvent gives an event; VerdictUnreadable holds the stream's cursor below
// the record until it reads, or an operator skips it.
const (
	VerdictEvent      Verdict = iota // a change to report: Judgement.Type says which
	VerdictBelow                     // changed before the window's lower bound
	VerdictAbove                     // changed after the window's upper bound
	VerdictSeen                      // already reported: a pair of the cursor's boundary, or read twice in this poll
	VerdictFiltered                  // dropped by the where clause's residual conditions or a filter
	VerdictUnreadable                // no id, or a date that does not read
	VerdictSkipped                   // unreadable, and skipped by an operator
)

var verdictNames = [...]string{"event", "below the window", "above the window", "already seen", "filtered", "unreadable", "skipped"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("Verdict(%d)", v)
}

// Judgement is the judge's verdict on one record, with the record's id and updated date when
// they read.
type Judgement struct {
	Verdict Verdict
	Type    EventType // for VerdictEvent
	ID      string
	// Key names an unreadable record for an operator's skip: its id, or when it has none, a
	// digest of its JSON ("sha256:...").
	Key     string
	Updated time.Time
	// Reason says why, for VerdictUnreadable always, and for the others when the judge explains
	// (Explain): which bound, which condition.
	Reason string
}

// judge decides, record by record, what one stream of a poll reports: it reads the record's id and
// dates (gjson paths compiled at load), windows it, de-duplicates it against the cursor's boundary
// pairs, applies the residual where conditions and the filters (expr programs compiled at load),
// and classifies it CREATED, UPDATED or DELETED. It holds no vendor paging state: the walker calls
// it once per record, in page order.
type judge struct {
	in      *Instance
	job     *JobSpec
	deleted bool      // the deleted stream: every record is a deletion
	lower   time.Time // the query's lower bound: the cursor less the overlap
	floor   time.Time // records changed before it are dropped: lower, but never before the origin
	upper   time.Time // zero: no upper bound
	origin  time.Time // where the stream's changes start, in the vendor's clock once known
	now     time.Time
	seen    seenSet
	skip    map[string]bool // unreadable records an operator skipped, by id
	explain bool            // fill Judgement.Reason for every verdict (pollen try)

	view recordView
	env  recordEnv
	vm   vm.VM
}

func newJudge(in *Instance, job *JobSpec, stream string, mark *Mark, now time.Time) *judge {
	jd := &judge{in: in, job: job, deleted: stream == StreamDeleted, now: now, seen: newSeenSet(mark), origin: in.origin()}
	jd.env.Record = &jd.view
	if len(mark.Skip) > 0 {
		jd.skip = make(map[string]bool, len(mark.Skip))
		for _, id := range mark.Skip {
			jd.skip[id] = true
		}
	}
	return jd
}

// setLower sets the window's lower bound, and the floor with it.
func (jd *judge) setLower(t time.Time) {
	jd.lower = t
	jd.setFloor()
	if len(jd.job.tpls) > 0 {
		jd.env.Tpl = make([]string, len(jd.job.tpls))
		for i, tp := range jd.job.tpls {
			jd.env.Tpl[i] = tp.Expand(t)
		}
	}
}

// setFloor drops what the window must not report: changes before its lower bound, or before the
// stream's origin.
func (jd *judge) setFloor() {
	jd.floor = jd.lower
	if jd.floor.Before(jd.origin) {
		jd.floor = jd.origin
	}
}

// identify reads the id and updated date of the record loaded into the view. A record whose id or
// date does not read is VerdictUnreadable (or VerdictSkipped when an operator skipped it).
func (jd *judge) identify() (Judgement, bool) {
	j := jd.job
	idr := jd.view.get(j.idPath)
	var out Judgement
	switch idr.Type {
	case gjson.String:
		out.ID = idr.Str
	case gjson.Number:
		out.ID = idr.Raw
	}
	if out.ID == "" {
		sum := sha256.Sum256([]byte(jd.view.raw))
		out.Key = "sha256:" + hex.EncodeToString(sum[:8])
		out.Verdict, out.Reason = VerdictUnreadable, fmt.Sprintf("record %s: no id at %q", out.Key, j.Poller.IDField)
		if jd.skip[out.Key] {
			out.Verdict = VerdictSkipped
		}
		return out, false
	}
	updated, ok, err := j.updated.parse(&jd.view)
	if err != nil || !ok {
		out.Key = out.ID
		out.Verdict = VerdictUnreadable
		if err == nil {
			out.Reason = fmt.Sprintf("record %s: no date at %q", out.ID, j.updated.path.full)
		} else {
			out.Reason = fmt.Sprintf("record %s: date at %q does not read as %s: %v", out.ID, j.updated.path.full, j.updated.layout, err)
		}
		if jd.skip[out.ID] {
			out.Verdict = VerdictSkipped
		}
		return out, false
	}
	out.Updated = updated.UTC()
	return out, true
}

// verdict judges the record loaded into the view, whose id and date identify read.
func (jd *judge) verdict(out Judgement) Judgement {
	j := jd.job
	updated := out.Updated
	if updated.Before(jd.floor) {
		out.Verdict = VerdictBelow
		if jd.explain {
			out.Reason = fmt.Sprintf("updated %s, before the window's lower bound %s", isoTime(updated), isoTime(jd.floor))
		}
		return out
	}
	if !jd.upper.IsZero() && updated.After(jd.upper) {
		out.Verdict = VerdictAbove
		if jd.explain {
			out.Reason = fmt.Sprintf("updated %s, after the window's upper bound %s", isoTime(updated), isoTime(jd.upper))
		}
		return out
	}
	pair := SeenRecord{ID: out.ID, Updated: updated.UnixNano()}
	if _, dup := jd.seen.pairs[pair]; dup {
		out.Verdict = VerdictSeen
		if jd.explain {
			out.Reason = "this change was reported already"
		}
		return out
	}
	// Seen from now on, in this poll too: a record listed twice (pages shifting under an update)
	// gives one event.
	jd.seen.pairs[pair] = struct{}{}

	for i, p := range [...]*vm.Program{j.residual, j.Resource.filter, j.filter} {
		if p == nil {
			continue
		}
		keep, err := runRecordExpr(&jd.vm, p, &jd.env)
		if err != nil {
			out.Verdict, out.Reason = VerdictUnreadable, fmt.Sprintf("record %s: %s: %v", out.ID, filterNames[i], err)
			return out
		}
		if !keep {
			out.Verdict = VerdictFiltered
			if jd.explain {
				out.Reason = "dropped by " + filterNames[i]
			}
			return out
		}
	}
	typ, emit, err := jd.classify(out.ID, updated)
	switch {
	case err != nil:
		out.Verdict, out.Reason = VerdictUnreadable, fmt.Sprintf("record %s: %v", out.ID, err)
	case !emit:
		out.Verdict = VerdictFiltered
		if jd.explain {
			out.Reason = "deleted: the resource's deleted query reports it"
		}
	default:
		out.Verdict, out.Type = VerdictEvent, typ
	}
	return out
}

var filterNames = [...]string{"the where clause's residual conditions", "the resource definition's filter", "the poller configuration's filter"}

// classify tells CREATED, UPDATED and DELETED apart. A record is CREATED when it was created
// inside this poll's window (createdCheckTolerance seconds earlier included, for vendors whose
// created and updated dates differ slightly at creation, and the vendor's hidden most recent
// window, minAge, for vendors that show a record only after it) and no earlier poll has seen it.
func (jd *judge) classify(id string, updated time.Time) (EventType, bool, error) {
	j := jd.job
	if jd.deleted {
		return Deleted, true, nil
	}
	if p := j.Resource.deletedWhen; p != nil {
		gone, err := runRecordExpr(&jd.vm, p, &jd.env)
		if err != nil {
			return "", false, fmt.Errorf("deleted signal: %w", err)
		}
		if gone {
			// With a deleted query, that stream reports the deletion once.
			return Deleted, !j.Resource.HasDeletedQuery(), nil
		}
	}
	if !j.byUpdated {
		return Created, true, nil
	}
	if j.created.path == nil {
		return Updated, true, nil
	}
	// A created date that does not read cannot tell the record new: it changed, so UPDATED.
	created, ok, _ := j.created.parse(&jd.view)
	_, seenBefore := jd.seen.ids[id]
	jd.seen.ids[id] = struct{}{}
	if ok && !seenBefore && !created.Before(jd.floor.Add(-j.tolerance-j.Resource.minAge)) {
		return Created, true, nil
	}
	return Updated, true, nil
}

// event is the event of a record judged VerdictEvent; rec is the record's JSON, copied.
func (jd *judge) event(jg Judgement, rec string) Event {
	return Event{
		ID:         EventID(jd.in.ID, jd.job.ObjectType, jg.ID, jg.Updated, jg.Type),
		InstanceID: jd.in.ID,
		ObjectType: jd.job.ObjectType,
		ObjectID:   jg.ID,
		Type:       jg.Type,
		Date:       jg.Updated,
		PollDate:   jd.now,
		Record:     []byte(rec),
	}
}

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
