// Package trial runs pollen try: one poll of one resource, of an instance body, a stored instance
// or a recorded case, that commits nothing; and prints every request, every record's verdict and
// what the pages show against the definition, as text or JSON. --record writes it as a golden
// case (definitions/golden).
package trial

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/adapters/httpsource"
	"github.com/pollen-hq/pollen/adapters/sqlite"
	"github.com/pollen-hq/pollen/cmd/internal/cli"
	"github.com/pollen-hq/pollen/cmd/internal/server"
	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/definitions/golden"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/egress"
	"github.com/pollen-hq/pollen/engine/instances"
)

// Options say what is tried and how: pollen try's flags and arguments, read.
type Options struct {
	Body     string // a POST /instances body file, tried against its vendor
	Instance int64  // or a stored instance of DataDir, sealed with KeyFile or Key (POLLEN_KEY)
	DataDir  string
	KeyFile  string
	Key      string
	From     string // or a recorded case in this folder, offline
	Poll     int    // with From: the case's poll to try, from 1
	Resource string // "" = the one the body polls, or the case's poll's

	Definitions []definitions.File // add to or override the built-in definitions
	Now         time.Time          // the trial's time
	Since       time.Time          // the window's start; zero = an instance's stored cursor
	Pages       int                // most vendor pages read
	Deadline    time.Duration

	AllowPrivate bool // the egress policy, as serve's flags open it
	AllowHosts   []string

	JSON        bool // print JSON, not text
	ShowBodies  bool // print the notifications' bodies
	Record      string
	Description string // of the recorded case; "" = one made up
	Scrub       golden.ScrubRule
	Stderr      io.Writer
}

// Run runs a trial, prints it on stdout (problems that stop it as FILE: /pointer: message), and
// returns pollen try's exit code.
func Run(ctx context.Context, o Options, stdout io.Writer) int {
	tr := &trial{flags: o, now: o.Now, since: o.Since, defs: o.Definitions, rule: o.Scrub, stderr: o.Stderr}
	var err error
	switch {
	case o.From != "":
		err = tr.fromCase(o.Resource)
	case o.Instance != 0:
		err = tr.fromInstance(ctx, o.Resource)
	default:
		err = tr.fromBody(o.Body, o.Resource)
	}
	var pe *problemsErr
	if errors.As(err, &pe) {
		PrintProblems(stdout, pe.probs)
		return cli.ExitFail
	}
	if err != nil {
		fmt.Fprintf(o.Stderr, "pollen try: %v\n", err)
		return cli.ExitFail
	}
	return tr.run(ctx, stdout)
}

// problemsErr carries problems to print as FILE: /pointer: message.
type problemsErr struct{ probs []definitions.Problem }

func (e *problemsErr) Error() string { return definitions.Describe(e.probs) }

// PrintProblems prints problems as FILE: /pointer: message, one a line.
func PrintProblems(w io.Writer, ps []definitions.Problem) {
	for _, p := range ps {
		fmt.Fprintln(w, p.Error())
	}
}

// trial is one pollen try under way: what is tried, from where, against what.
type trial struct {
	flags  Options
	now    time.Time
	since  time.Time // zero: from cur
	defs   []definitions.File
	rule   golden.ScrubRule
	stderr io.Writer

	asm      *definitions.Assembly
	in       *engine.Instance
	job      *engine.JobSpec
	instName string // the instance's file (or "instance ID"), for findings
	cur      *engine.Cursor
	src      engine.Source
	offline  bool
}

// fromBody prepares a trial of an instance body file against its vendor.
func (tr *trial) fromBody(file, resource string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	tr.asm = definitions.Assemble(append(definitions.Builtin(), tr.defs...))
	if len(tr.asm.Problems) > 0 {
		return &problemsErr{tr.asm.Problems}
	}
	if resource == "" {
		if resource, err = onlyResource(tr.asm.Catalog, file, data); err != nil {
			return err
		}
	}
	body, err := instances.TrialBody(data, resource, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	in, probs := definitions.LoadInstance(tr.asm.Catalog, file, body)
	if len(probs) > 0 {
		return &problemsErr{probs}
	}
	in.CreatedAt = tr.since
	tr.in, tr.instName = in, file
	tr.job, _ = in.Job(resource)
	return tr.vendor()
}

// onlyResource returns the one resource a body polls, or says which to choose from.
func onlyResource(cat *engine.Catalog, file string, data []byte) (string, error) {
	in, probs := definitions.LoadInstance(cat, file, data)
	if len(probs) > 0 {
		return "", &problemsErr{probs}
	}
	var names []string
	for _, j := range in.Jobs {
		names = append(names, j.ObjectType)
	}
	if len(names) == 1 {
		return names[0], nil
	}
	return "", fmt.Errorf("%s polls %d resources (%s): name the one to try after it", file, len(names), strings.Join(names, ", "))
}

// fromInstance prepares a trial of a stored instance against its vendor.
func (tr *trial) fromInstance(ctx context.Context, resource string) error {
	f := tr.flags
	if resource == "" {
		return errors.New("name the RESOURCE to try after --instance")
	}
	db := filepath.Join(f.DataDir, server.DBFile)
	if _, err := os.Stat(db); err != nil {
		return fmt.Errorf("no database in %s: %w", f.DataDir, err)
	}
	cfg := server.Config{DataDir: f.DataDir, KeyFile: f.KeyFile, Key: f.Key}
	if cfg.Key == "" && cfg.KeyFile == "" {
		cfg.KeyFile = filepath.Join(f.DataDir, server.KeysFile) // read it; never generate one
	}
	keys, err := server.LoadKeys(cfg, hclog.NewNullLogger())
	if err != nil {
		return err
	}
	store, err := sqlite.Open(db, sqlite.Options{Sealer: keys})
	if err != nil {
		return err
	}
	defer store.Close()
	rec, err := store.Instance(ctx, f.Instance)
	if err != nil {
		return fmt.Errorf("instance %d: %w", f.Instance, err)
	}
	tr.asm = definitions.Assemble(append(definitions.Builtin(), tr.defs...))
	if len(tr.asm.Problems) > 0 {
		return &problemsErr{tr.asm.Problems}
	}
	in, job, err := instances.CompileTrial(tr.asm.Catalog, engine.Limits{}, rec, resource, nil)
	var pe *instances.ProblemsError
	if errors.As(err, &pe) {
		return &problemsErr{pe.Problems}
	}
	if err != nil {
		return err
	}
	tr.in, tr.job, tr.instName = in, job, fmt.Sprintf("instance %d", rec.ID)
	if tr.since.IsZero() {
		cur, found, err := store.Cursor(ctx, engine.JobKey{InstanceID: in.ID, ObjectType: resource})
		if err != nil {
			return fmt.Errorf("instance %d: the cursor of %s: %w", in.ID, resource, err)
		}
		if found {
			tr.cur = &cur
		} else {
			tr.since = in.CreatedAt // never polled: its first poll
		}
	} else {
		in.CreatedAt = tr.since
	}
	return tr.vendor()
}

// vendor points the trial at the real vendor, through the egress policy.
func (tr *trial) vendor() error {
	pol, err := egress.New(egress.Options{AllowPrivate: tr.flags.AllowPrivate, AllowHosts: tr.flags.AllowHosts})
	if err != nil {
		return err
	}
	tr.src = httpsource.New(httpsource.Options{Dial: server.EgressDial(pol)})
	return nil
}

// fromCase prepares a trial of a recorded case.
func (tr *trial) fromCase(resource string) error {
	c, err := golden.Read(tr.flags.From)
	if err != nil {
		return err
	}
	i := tr.flags.Poll - 1
	if i < 0 || i >= len(c.Polls) {
		return fmt.Errorf("%s has %d polls; --poll %d is not one of them", c.Dir, len(c.Polls), tr.flags.Poll)
	}
	files, probs := c.Files()
	if len(probs) > 0 {
		return &problemsErr{probs}
	}
	tr.asm = definitions.Assemble(append(files, tr.defs...))
	if len(tr.asm.Problems) > 0 {
		return &problemsErr{tr.asm.Problems}
	}
	in, err := c.Instance(tr.asm.Catalog)
	if err != nil {
		return err
	}
	if resource == "" {
		resource = c.Polls[i].Job
	}
	job, ok := in.Job(resource)
	if !ok {
		return fmt.Errorf("%s's instance does not poll %q", c.Dir, resource)
	}
	cur, err := c.CursorBefore(in, i)
	if err != nil {
		return err
	}
	src, err := c.Source(i)
	if err != nil {
		return err
	}
	tr.in, tr.job, tr.cur, tr.src, tr.offline = in, job, cur, src, true
	tr.instName = filepath.Join(c.Dir, golden.InstanceFile)
	tr.now = c.Polls[i].Now
	if cur == nil {
		tr.since = c.CreatedAt
	}
	return nil
}

// tryOutput is what --format json prints: the trial, and what its pages show against the
// definition.
type tryOutput struct {
	engine.TrialReport
	Findings []definitions.Problem `json:"findings"`
	Recorded string                `json:"recorded,omitempty"`
}

// run runs the trial and prints it.
func (tr *trial) run(ctx context.Context, stdout io.Writer) int {
	p := &engine.Poller{Clock: &engine.FixedClock{T: tr.now}, PageBudget: tr.flags.Pages, Deadline: tr.flags.Deadline,
		Account: engine.Account{AccountID: 1, CompanyID: 1, UserID: 1, User: "pollen"}}
	t, err := p.Try(ctx, tr.src, tr.in, tr.job, tr.cur)
	if t == nil {
		fmt.Fprintf(tr.stderr, "pollen try: %v\n", tr.in.ScrubError(err))
		return cli.ExitFail
	}
	out := tryOutput{TrialReport: t.Report(tr.in, tr.job, tr.since, tr.flags.ShowBodies, err)}
	body, _ := json.Marshal(tr.in.Spec)
	out.Findings = golden.Problems(tr.asm, tr.in, tr.job, tr.instName, body,
		tr.job.Lint([][]engine.SampleQuery{t.Samples(tr.in)}))
	if out.Findings == nil {
		out.Findings = []definitions.Problem{}
	}
	var recErr error
	if tr.flags.Record != "" {
		if err != nil {
			recErr = errors.New("not recorded: the poll failed")
		} else {
			_, recErr = golden.Record(golden.Recording{Dir: tr.flags.Record, Description: tr.description(), Trial: t,
				Instance: tr.in, Job: tr.job, Body: body, Since: tr.since, Definitions: tr.ownDefinitions(), Rule: tr.rule})
			if recErr == nil {
				out.Recorded = tr.flags.Record
			}
		}
	}
	if tr.flags.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		_ = enc.Encode(out)
	} else {
		tr.printText(stdout, out)
	}
	if recErr != nil {
		fmt.Fprintf(tr.stderr, "pollen try: --record: %v\n", tr.in.ScrubError(recErr))
		return cli.ExitFail
	}
	if err != nil || out.Verdicts["unreadable"] > 0 || len(out.Findings) > 0 {
		return cli.ExitFail
	}
	return cli.ExitOK
}

func (tr *trial) description() string {
	if tr.flags.Description != "" {
		return tr.flags.Description
	}
	return fmt.Sprintf("Recorded by pollen try: %s %s, the changes since %s.", tr.in.Element.Key, tr.job.ObjectType, tr.since.UTC().Format(time.RFC3339))
}

// ownDefinitions returns the definition files the trial used that are not built in.
func (tr *trial) ownDefinitions() []definitions.File {
	var out []definitions.File
	for _, name := range []string{tr.asm.File(tr.in.Element.Key, ""), tr.asm.File(tr.in.Element.Key, tr.job.Resource.Name)} {
		for _, d := range tr.defs {
			if d.Name == name {
				out = append(out, d)
			}
		}
	}
	return out
}

// printText prints a trial for people.
func (tr *trial) printText(w io.Writer, o tryOutput) {
	where := "from its stored cursor"
	if o.Since != nil {
		where = "changes since " + o.Since.Format(time.RFC3339)
	}
	src := "the vendor"
	if tr.offline {
		src = "the recording in " + tr.flags.From
	}
	fmt.Fprintf(w, "Trial of %s %s at %s, %s, against %s; nothing is committed.\n\n",
		o.Element, o.Resource, o.Now.Format(time.RFC3339), where, src)
	for i, r := range o.Requests {
		fmt.Fprintf(w, "page %d: GET %s\n", i+1, r.URL)
		switch {
		case r.Error != "":
			fmt.Fprintf(w, "    failed after %s: %s\n", ms(r.DurationMS), r.Error)
		case r.Records < 0:
			path := tr.job.Resource.Spec.Records
			if path == "" {
				path = "@this"
			}
			fmt.Fprintf(w, "    %d, %s, %s: no array of records at %q\n", r.Status, size(r.Bytes), ms(r.DurationMS), path)
		default:
			fmt.Fprintf(w, "    %d, %d records, %s, %s\n", r.Status, r.Records, size(r.Bytes), ms(r.DurationMS))
		}
		for _, rec := range o.Records {
			if rec.Request == i {
				fmt.Fprintf(w, "    %s\n", recordLine(rec))
			}
		}
	}
	if len(o.Requests) == 0 {
		fmt.Fprintln(w, "No vendor request was made.")
	}
	fmt.Fprintln(w)
	for _, n := range o.Notes {
		fmt.Fprintf(w, "Note: %s\n", n)
	}
	for _, g := range o.Gaps {
		fmt.Fprintf(w, "Gap: %s\n", g)
	}
	if o.Held != "" {
		fmt.Fprintf(w, "Held: %s (the stream's cursor would stay below this record until it reads, or an operator skips it)\n", o.Held)
	}
	if o.Stopped != "" {
		fmt.Fprintf(w, "Stopped early: %s (--pages, --deadline); the next poll would go on from the cursor below\n", o.Stopped)
	}
	if o.Error != "" {
		fmt.Fprintf(w, "The poll failed: %s\n", o.Error)
	}
	fmt.Fprintf(w, "Cursor it would move to: %s\n", cursorText(o.Cursor))
	events := 0
	for _, n := range o.Notifications {
		events += len(n.EventIDs)
	}
	fmt.Fprintf(w, "Notifications it would send: %d, with %d events\n", len(o.Notifications), events)
	for _, n := range o.Notifications {
		if len(n.Body) > 0 {
			var buf strings.Builder
			enc := json.NewEncoder(&buf)
			enc.SetIndent("    ", "  ")
			enc.SetEscapeHTML(false)
			_ = enc.Encode(n.Body)
			fmt.Fprintf(w, "  %s:\n    %s", n.ID, buf.String())
		}
	}
	fmt.Fprintf(w, "Verdicts: %s\n", verdictSummary(o.Verdicts))
	if len(o.Findings) > 0 {
		fmt.Fprintf(w, "\nWhat the pages show against the definition:\n")
		for _, p := range o.Findings {
			fmt.Fprintf(w, "%s\n", p.Error())
		}
	}
	if o.Recorded != "" {
		fmt.Fprintf(w, "\nRecorded in %s: go test ./engine -run TestGolden replays it when it is under testdata/golden.\n", o.Recorded)
	}
}

func recordLine(r engine.TrialRecordReport) string {
	what := r.Verdict
	if r.Type != "" {
		what = string(r.Type)
	}
	line := fmt.Sprintf("%-10s %s", what, r.ID)
	if r.Stream != engine.StreamChanges {
		line += " (" + r.Stream + ")"
	}
	if r.Updated != nil {
		line += ", updated " + r.Updated.Format(time.RFC3339)
	}
	if r.Reason != "" {
		line += ": " + r.Reason
	}
	return line
}

func cursorText(c engine.Cursor) string {
	if len(c.Streams) == 0 {
		return "none (nothing read)"
	}
	names := make([]string, 0, len(c.Streams))
	for n := range c.Streams {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		m := c.Streams[n]
		s := fmt.Sprintf("%s since %s", n, m.Since.UTC().Format(time.RFC3339))
		if len(m.Seen) > 0 {
			s += fmt.Sprintf(" (%d changes seen at its edge)", len(m.Seen))
		}
		if m.Token != "" {
			s += ", vendor cursor " + m.Token
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func verdictSummary(v map[string]int) string {
	if len(v) == 0 {
		return "no records"
	}
	var parts []string
	for _, k := range []string{"event", "seen", "below", "above", "filtered", "unreadable", "skipped"} {
		if n := v[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	return strings.Join(parts, ", ")
}

func ms(d float64) string {
	if d < 10 {
		return fmt.Sprintf("%.1fms", d)
	}
	return fmt.Sprintf("%.0fms", d)
}

func size(n int) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f KB", float64(n)/1024)
}

// ParseSince reads --since: a duration before now (days as d), or a date.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err == nil && n > 0 && fmt.Sprint(n) == days {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, errors.New("a duration must be positive")
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.After(now) {
				return time.Time{}, errors.New("the date is in the future")
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("want a duration (90m, 2h, 3d) or a date (2024-03-01, 2024-03-01T10:00:00Z)")
}
