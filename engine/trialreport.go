package engine

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/tidwall/gjson"
)

// TrialReport is a trial as `pollen try --format json` prints it and the API answers it: plain
// values only, every string scrubbed of the instance's secrets (URLs masked as in answers, then
// scrubbed of every form of the secrets, as errors are).
type TrialReport struct {
	InstanceID int64     `json:"instanceId,omitempty"`
	Element    string    `json:"element"`
	Resource   string    `json:"resource"`
	Now        time.Time `json:"now"`
	// Since is where the window starts when the trial runs from the instance's creation (a first
	// poll); nil when it runs from a stored cursor.
	Since         *time.Time                `json:"since,omitempty"`
	Requests      []TrialRequestReport      `json:"requests"`
	Records       []TrialRecordReport       `json:"records"`
	Verdicts      map[string]int            `json:"verdicts"` // records by verdict key
	Cursor        Cursor                    `json:"cursor"`
	Notifications []TrialNotificationReport `json:"notifications"`
	Pages         int                       `json:"pages"`
	Events        int                       `json:"events"`
	Gaps          []string                  `json:"gaps,omitempty"`
	Held          string                    `json:"held,omitempty"`
	Stopped       string                    `json:"stopped,omitempty"`
	Notes         []string                  `json:"notes,omitempty"`
	// Error is why the poll failed; "" when it did not.
	Error string `json:"error,omitempty"`
}

// TrialRequestReport is one vendor request of a trial.
type TrialRequestReport struct {
	URL        string  `json:"url"`
	Status     int     `json:"status,omitempty"`
	Records    int     `json:"records"` // records in the page's array; -1 when there is none
	Bytes      int     `json:"bytes"`
	DurationMS float64 `json:"durationMs"`
	Error      string  `json:"error,omitempty"`
}

// TrialRecordReport is one record's verdict in a trial.
type TrialRecordReport struct {
	Request int        `json:"request"` // index into TrialReport.Requests
	Stream  string     `json:"stream"`
	Verdict string     `json:"verdict"` // a VerdictKey
	Type    EventType  `json:"type,omitempty"`
	ID      string     `json:"id,omitempty"`
	Updated *time.Time `json:"updated,omitempty"`
	Reason  string     `json:"reason,omitempty"`
}

// TrialNotificationReport is one notification a trial would send; Body only when asked for.
type TrialNotificationReport struct {
	ID       string          `json:"id"`
	EventIDs []string        `json:"eventIds"`
	Body     json.RawMessage `json:"body,omitempty"`
}

var verdictKeys = [...]string{"event", "below", "above", "seen", "filtered", "unreadable", "skipped"}

// VerdictKey is the verdict's name in reports: event, below, above, seen, filtered, unreadable or
// skipped.
func (v Verdict) VerdictKey() string {
	if int(v) < len(verdictKeys) {
		return verdictKeys[v]
	}
	return v.String()
}

// Report turns the trial of job of instance in into a TrialReport. since is where the trial's
// window started when it ran as a first poll (zero otherwise); bodies includes the notifications'
// bodies; err is the trial's error.
func (t *Trial) Report(in *Instance, job *JobSpec, since time.Time, bodies bool, err error) TrialReport {
	rep := TrialReport{InstanceID: in.ID, Element: in.Element.Key, Resource: job.ObjectType, Now: t.Now.UTC(),
		Requests: []TrialRequestReport{}, Records: []TrialRecordReport{}, Verdicts: map[string]int{},
		Cursor: t.Cursor, Notifications: []TrialNotificationReport{}, Pages: t.Result.Pages, Events: t.Result.Events,
		Gaps: scrubAll(in, t.Result.Gaps), Held: in.Scrub(t.Result.Held), Stopped: t.Result.Stopped, Notes: t.Notes}
	if !since.IsZero() {
		s := since.UTC()
		rep.Since = &s
	}
	if rep.Cursor.Streams == nil {
		rep.Cursor.Streams = map[string]*Mark{}
	}
	for _, rq := range t.Requests {
		r := TrialRequestReport{URL: in.Scrub(MaskURL(rq.URL)), Bytes: rq.Bytes, Records: -1,
			DurationMS: float64(rq.Duration.Microseconds()) / 1000}
		if rq.Err != nil {
			r.Error = in.ScrubError(rq.Err).Error()
			var vs VendorStatus
			if errors.As(rq.Err, &vs) {
				r.Status = vs.HTTPStatus()
			}
		} else {
			r.Status = rq.Page.Status
			arr := gjson.ParseBytes(rq.Page.Body)
			if p := job.Resource.records; p != "@this" {
				arr = arr.Get(p)
			}
			if arr.IsArray() {
				r.Records = len(arr.Array())
			}
		}
		rep.Requests = append(rep.Requests, r)
	}
	for _, tr := range t.Records {
		r := TrialRecordReport{Request: tr.Request, Stream: tr.Stream, Verdict: tr.Verdict.VerdictKey(),
			ID: in.Scrub(tr.ID), Reason: in.Scrub(tr.Reason)}
		if r.ID == "" {
			r.ID = tr.Key
		}
		if tr.Verdict == VerdictEvent {
			r.Type = tr.Type
		}
		if !tr.Updated.IsZero() {
			u := tr.Updated.UTC()
			r.Updated = &u
		}
		rep.Verdicts[r.Verdict]++
		rep.Records = append(rep.Records, r)
	}
	for _, n := range t.Notifications {
		nr := TrialNotificationReport{ID: n.ID, EventIDs: n.EventIDs}
		if bodies {
			if b := in.Scrub(string(n.Body)); json.Valid([]byte(b)) {
				nr.Body = json.RawMessage(b)
			}
		}
		rep.Notifications = append(rep.Notifications, nr)
	}
	if err != nil {
		rep.Error = in.ScrubError(err).Error()
	}
	return rep
}

func scrubAll(in *Instance, ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = in.Scrub(s)
	}
	return out
}
