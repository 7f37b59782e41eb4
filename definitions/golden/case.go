// Package golden reads, replays, lints and records golden poll cases: a folder holding a
// definition (the built-in ones, overridden by an optional definitions/ folder), an instance body,
// the vendor's pages as recorded, and what polling them gives (expected.txt).
//
//	case.json       description, the instance's creation time, and the polls: each one's time,
//	                job, the vendor's clock skew, and per vendor query of the poll the recorded
//	                pages it returned, in order (and, when recorded, the query itself)
//	instance.json   a POST /instances body
//	*.json          the pages
//	definitions/    optional: definition files that add to or override the built-in ones
//	scrub.json      optional: the rule a recording was scrubbed with (pollen try --record)
//	expected.txt    the vendor queries, events and notifications of every poll
//
// `go test ./engine -run TestGolden` replays every case under testdata/golden with Run; `pollen
// try --record` writes one (Record); `pollen validate --samples` lints definitions against the
// pages (Lint). A case is replayed with enginetest.PageSource: each vendor query is answered
// with the next recorded answer, page after page, and a page of an answer that has more carries
// a Link rel="next".
package golden

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/enginetest"
)

// Case is one golden case: case.json, and the folder it is in.
type Case struct {
	Dir         string    `json:"-"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"createdAt"`
	Polls       []Poll    `json:"polls"`
}

// Poll is one poll of a case.
type Poll struct {
	Now  time.Time `json:"now"`
	Job  string    `json:"job"`
	Skew string    `json:"vendorClockSkew,omitempty"` // e.g. "-90s": the vendor's clock against Pollen's
	// Answers holds, per vendor query of the poll, in order, the files of the pages it returned.
	Answers [][]string `json:"answers"`
	// Queries holds, when recorded, the vendor query (GET path?query, as expected.txt prints
	// requests) each answer was the answer to.
	Queries []string `json:"queries,omitempty"`
}

// InstanceID is the id every case's instance has.
const InstanceID = 7950647

// CaseFile, InstanceFile and ExpectedFile are the names of a case's files.
const (
	CaseFile     = "case.json"
	InstanceFile = "instance.json"
	ExpectedFile = "expected.txt"
	ScrubFile    = "scrub.json"
	DefsDir      = "definitions"
)

// Read reads the case in dir.
func Read(dir string) (*Case, error) {
	b, err := os.ReadFile(filepath.Join(dir, CaseFile))
	if err != nil {
		return nil, err
	}
	c := &Case{Dir: dir}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, CaseFile), err)
	}
	for i, p := range c.Polls {
		if p.Job == "" {
			return nil, fmt.Errorf("%s: /polls/%d/job: is required", filepath.Join(dir, CaseFile), i)
		}
		if len(p.Queries) > 0 && len(p.Queries) != len(p.Answers) {
			return nil, fmt.Errorf("%s: /polls/%d/queries: %d queries for %d answers", filepath.Join(dir, CaseFile), i, len(p.Queries), len(p.Answers))
		}
	}
	return c, nil
}

// Find returns the cases in dir: dir itself when it holds case.json, else every folder below it
// that does, in lexical order.
func Find(dir string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, CaseFile)); err == nil {
		return []string{dir}, nil
	}
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == CaseFile {
			out = append(out, filepath.Dir(p))
			return filepath.SkipDir
		}
		return nil
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("%s: no recorded case (a folder with %s) in it", dir, CaseFile)
	}
	return out, err
}

// Files returns the definition files the case polls with: the built-in ones, then its own
// definitions/ folder.
func (c *Case) Files() ([]definitions.File, []definitions.Problem) {
	files := definitions.Builtin()
	extra := filepath.Join(c.Dir, DefsDir)
	if _, err := os.Stat(extra); err != nil {
		return files, nil
	}
	more, probs := definitions.ReadDir(extra)
	return append(files, more...), probs
}

// Instance loads the case's instance.json against a catalog, with the case's identity and
// creation time.
func (c *Case) Instance(cat *engine.Catalog) (*engine.Instance, error) {
	name := filepath.Join(c.Dir, InstanceFile)
	body, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	in, probs := definitions.LoadInstance(cat, name, body)
	if len(probs) > 0 {
		return nil, errors.New(definitions.Describe(probs))
	}
	in.ID = InstanceID
	in.CreatedAt = c.CreatedAt
	return in, nil
}

// Catalog compiles the case's definitions, with extra files (given last, so they win).
func (c *Case) Catalog(extra ...definitions.File) (*engine.Catalog, error) {
	files, probs := c.Files()
	if len(probs) > 0 {
		return nil, errors.New(definitions.Describe(probs))
	}
	cat, probs := definitions.Compile(append(files, extra...))
	if len(probs) > 0 {
		return nil, errors.New(definitions.Describe(probs))
	}
	return cat, nil
}

// Pages reads the pages of poll i (0-based), per answer.
func (c *Case) Pages(i int) ([][][]byte, error) {
	var out [][][]byte
	for _, names := range c.Polls[i].Answers {
		var ans [][]byte
		for _, name := range names {
			b, err := os.ReadFile(filepath.Join(c.Dir, name))
			if err != nil {
				return nil, err
			}
			ans = append(ans, b)
		}
		out = append(out, ans)
	}
	return out, nil
}

// Source returns a source that serves poll i's recorded pages, as Run does.
func (c *Case) Source(i int) (*enginetest.PageSource, error) {
	p := c.Polls[i]
	src := &enginetest.PageSource{}
	if p.Skew != "" {
		d, err := time.ParseDuration(p.Skew)
		if err != nil {
			return nil, fmt.Errorf("%s: /polls/%d/vendorClockSkew: %w", filepath.Join(c.Dir, CaseFile), i, err)
		}
		src.Now, src.Skew = p.Now, d
	}
	pages, err := c.Pages(i)
	if err != nil {
		return nil, err
	}
	src.Answers = pages
	return src, nil
}

// Run replays the case's polls, in order, and returns the transcript expected.txt holds: per
// poll the vendor queries, the events and notifications committed, gaps, a held record, why it
// stopped, and what it read. extra definition files override the case's.
func (c *Case) Run(extra ...definitions.File) (string, error) {
	out, _, err := c.replay(extra...)
	return out, err
}

// replay is Run, returning the events committed as well.
func (c *Case) replay(extra ...definitions.File) (string, []engine.Event, error) {
	cat, err := c.Catalog(extra...)
	if err != nil {
		return "", nil, err
	}
	in, err := c.Instance(cat)
	if err != nil {
		return "", nil, err
	}
	var events []engine.Event
	store := enginetest.NewMemStore()
	clock := &engine.FixedClock{}
	var out strings.Builder
	for i, pl := range c.Polls {
		clock.T = pl.Now
		src, err := c.Source(i)
		if err != nil {
			return "", nil, err
		}
		job, ok := in.Job(pl.Job)
		if !ok {
			return "", nil, fmt.Errorf("poll %d: instance has no job %q", i+1, pl.Job)
		}
		store.Reset()
		p := &engine.Poller{Source: src, Store: store, Clock: clock}
		res, err := p.Poll(context.Background(), in, job)
		fmt.Fprintf(&out, "poll %d %s at %s\n", i+1, pl.Job, pl.Now.Format(time.RFC3339))
		for _, r := range src.Requests {
			fmt.Fprintf(&out, "  %s\n", enginetest.Describe(r))
		}
		if err != nil {
			fmt.Fprintf(&out, "  error: %v\n", err)
		}
		for _, e := range store.Events {
			fmt.Fprintf(&out, "  %s %s %s %s %s\n", e.Type, e.ObjectType, e.ObjectID, e.Date.Format(time.RFC3339), e.ID)
		}
		events = append(events, store.Events...)
		for _, n := range store.Notifications {
			fmt.Fprintf(&out, "  notification %s: %d events\n", n.ID, len(n.EventIDs))
		}
		for _, g := range res.Gaps {
			fmt.Fprintf(&out, "  gap: %s\n", g)
		}
		if res.Held != "" {
			fmt.Fprintf(&out, "  held: %s\n", res.Held)
		}
		if res.Stopped != "" {
			fmt.Fprintf(&out, "  stopped: %s\n", res.Stopped)
		}
		fmt.Fprintf(&out, "  read %d pages, %d records\n", res.Pages, res.Records)
		if res.Skipped > 0 {
			fmt.Fprintf(&out, "  skipped %d records\n", res.Skipped)
		}
	}
	return out.String(), events, nil
}

// CursorBefore replays the polls before poll i (0-based) and returns the cursor poll i starts
// from; nil for the first poll.
func (c *Case) CursorBefore(in *engine.Instance, i int) (*engine.Cursor, error) {
	if i == 0 {
		return nil, nil
	}
	store := enginetest.NewMemStore()
	clock := &engine.FixedClock{}
	job, ok := in.Job(c.Polls[i].Job)
	if !ok {
		return nil, fmt.Errorf("poll %d: instance has no job %q", i+1, c.Polls[i].Job)
	}
	for k := 0; k < i; k++ {
		clock.T = c.Polls[k].Now
		src, err := c.Source(k)
		if err != nil {
			return nil, err
		}
		j, ok := in.Job(c.Polls[k].Job)
		if !ok {
			return nil, fmt.Errorf("poll %d: instance has no job %q", k+1, c.Polls[k].Job)
		}
		p := &engine.Poller{Source: src, Store: store, Clock: clock}
		if _, err := p.Poll(context.Background(), in, j); err != nil {
			return nil, fmt.Errorf("replaying poll %d: %w", k+1, err)
		}
	}
	cur, found, err := store.Cursor(context.Background(), engine.JobKey{InstanceID: in.ID, ObjectType: job.ObjectType})
	if err != nil || !found {
		return nil, err
	}
	return &cur, nil
}
