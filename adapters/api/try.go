package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
)

// A trial of one resource of an instance (the console's Try button, pollen try over HTTP):
//
//	POST /instances/{id}/pollers/{resource}/try   {"configuration": {...}, "since": "1h"}, both optional
//
// One poll of the resource, from since before now (default the last hour) as a first poll, with
// the poller configuration given (one being edited), or the instance's own, or the resource
// definition's default. Nothing is committed: no cursor moves, no notification is sent. The
// answer is the trial (engine.TrialReport: requests, every record's verdict and why, the cursor,
// the notifications, without bodies) and what its pages show against the definition. It reads
// the vendor as the instance's pollers do, within bounds of its own (trialPages, trialDeadline),
// and never carries a secret.

const (
	trialPath     = "/instances/{id}/pollers/{resource}/try"
	trialPages    = 20
	trialDeadline = 30 * time.Second
	// trialMaxSince bounds the window a trial reads.
	trialMaxSince  = 7 * 24 * time.Hour
	trialDefSince  = time.Hour
	trialSinceHint = "a duration such as 1h or 30m, at most 168h"
)

// routeTry registers the trial route, and 405 for the methods it does not serve.
func (s *Server) routeTry(m *http.ServeMux) {
	s.handle(m, "POST /instances/{id}/pollers/{resource}/try", false, s.tryResource)
	for _, method := range routeMethods {
		if method != http.MethodPost {
			s.handle(m, method+" "+trialPath, false, methodNotAllowed("POST"))
		}
	}
}

// trialRequest is the optional body of a trial.
type trialRequest struct {
	Configuration json.RawMessage `json:"configuration,omitempty"`
	Since         string          `json:"since,omitempty"`
}

// trialJSON answers a trial.
type trialJSON struct {
	engine.TrialReport
	Findings []findingJSON `json:"findings"`
}

// findingJSON is one problem a trial's pages show against the definition: where (the resource or
// element definition, or the poller configuration tried) and the JSON pointer in it.
type findingJSON struct {
	In      string `json:"in"`
	Pointer string `json:"pointer"`
	Message string `json:"message"`
}

// tryResource serves POST /instances/{id}/pollers/{resource}/try.
func (s *Server) tryResource(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if s.src == nil {
		writeError(w, r, http.StatusServiceUnavailable, "Trials are not configured with a vendor source")
		return
	}
	resource := r.PathValue("resource")
	var req trialRequest
	if r.ContentLength != 0 {
		if !jsonContentType(r.Header.Get("Content-Type")) {
			writeError(w, r, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
			return
		}
		data, ok := s.readBody(w, r)
		if !ok {
			return
		}
		if len(bytes.TrimSpace(data)) > 0 {
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				s.badRequest(w, r, "Invalid trial", []definitions.Problem{{Message: "the body must be {\"configuration\": {...}, \"since\": \"1h\"}, both optional: " + err.Error()}})
				return
			}
		}
	}
	since := trialDefSince
	if req.Since != "" {
		d, err := time.ParseDuration(req.Since)
		if err != nil || d <= 0 || d > trialMaxSince {
			s.badRequest(w, r, "Invalid trial", []definitions.Problem{{Pointer: "/since", Message: fmt.Sprintf("%q is not %s", req.Since, trialSinceHint)}})
			return
		}
		since = d
	}
	in, job, err := s.svc.Trial(r.Context(), principal(r.Context()), id, resource, req.Configuration)
	if err != nil {
		s.serviceError(w, r, err, "trial")
		return
	}
	now := s.now().UTC().Truncate(time.Second)
	in.CreatedAt = now.Add(-since)
	p := &engine.Poller{Clock: &engine.FixedClock{T: now}, PageBudget: trialPages, Deadline: trialDeadline,
		Account: engine.Account{AccountID: 1, CompanyID: 1, UserID: 1, User: "pollen"}}
	t, err := p.Try(r.Context(), s.src, in, job, nil)
	if t == nil {
		s.internalError(w, r, "trial", in.ScrubError(err))
		return
	}
	out := trialJSON{TrialReport: t.Report(in, job, in.CreatedAt, false, err), Findings: []findingJSON{}}
	for _, f := range job.Lint([][]engine.SampleQuery{t.Samples(in)}) {
		fj := findingJSON{Pointer: f.Pointer, Message: in.Scrub(f.Msg)}
		switch f.Place {
		case engine.PlaceElement:
			fj.In = "element " + in.Element.Key
		case engine.PlaceResource:
			fj.In = "resource " + in.Element.Key + "/" + job.Resource.Name
		default:
			fj.In = "poller configuration"
			fj.Pointer = engine.Pointer("configuration", engine.KeyPollerConfig, resource) + f.Pointer
		}
		out.Findings = append(out.Findings, fj)
	}
	s.log.Info("trial", "instance", id, "resource", resource, "pages", out.Pages, "error", strings.TrimSpace(out.Error) != "")
	writeJSON(w, http.StatusOK, out)
}
