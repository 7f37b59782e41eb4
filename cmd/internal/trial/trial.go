package main

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
	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/definitions/golden"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/egress"
	"github.com/pollen-hq/pollen/engine/enginetest"
	"github.com/pollen-hq/pollen/engine/instances"
)

const tryDoc = `Try runs one poll of one resource and commits nothing: no cursor moves, no
notification is sent. It prints every vendor request (status, records, size, time),
every record's verdict and why (CREATED, UPDATED or DELETED; below or above the
window, and which bound; already seen; dropped by the where clause or a filter, and
which; unreadable, and which field and format), the cursor the poll would move to,
the notifications it would send (their bodies with --show-bodies), and what the
pages show against the definition, as 'pollen validate --samples' does: each as
FILE: /pointer: message, on the file to fix.

What is tried:
  pollen try BODY RESOURCE          a POST /instances body, against the real vendor
  pollen try --instance ID RESOURCE an instance of --data-dir, as it is stored
  pollen try --from DIR [RESOURCE]  a recorded case (pollen try --record), offline

RESOURCE may be left out when the body polls one resource. A resource the body or
instance does not poll yet is tried with its definition's default configuration.
--definitions adds or overrides definition files, as 'serve --definitions' does.

The window: a body is tried as a first poll from --since before now (default 1h:
the last hour's changes); an instance from its stored cursor (what its next poll
would read), or from --since when given. --since takes a duration (90m, 2h, 3d) or
a date (2024-03-01, 2024-03-01T10:00:00Z).

--record DIR writes the trial as a golden case (case.json, instance.json, the
pages, the definitions not built in, scrub.json, expected.txt) that
'go test ./engine -run TestGolden' replays: record into testdata/golden/NAME and
the test suite has it. Credentials are replaced in every form, and personal data
by a declared rule: --scrub FILE, or the default (names, emails, phones,
addresses and free text; scrub.json in the case shows it). The recording is
replayed at once, and refused when it does not give the trial's events.

The egress policy applies as in serve: vendors on loopback or private networks
(the simulators of 'pollen fakedesk') need --allow-private-networks or
--allow-hosts. Secrets never appear in the output or in a recording.

The exit status is 0 when the poll ran and shows nothing wrong, 1 when it failed,
a record did not read, or the pages show a problem, and 2 on a usage error.`

// tryFlags are try's options.
type tryFlags struct {
	instance     int64
	dataDir      string
	keyFile      string
	from         string
	poll         int
	defs         []string
	since        string
	format       string
	showBodies   bool
	record       string
	scrub        string
	description  string
	pages        int
	deadline     time.Duration
	allowPrivate bool
	allowHosts   []string
}

func runTry(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("try", "[flags] (BODY | --instance ID | --from DIR) [RESOURCE]", tryDoc, stderr)
	var f tryFlags
	fs.Int64Var(&f.instance, "instance", 0, "try the stored instance with this `id` (with --data-dir)")
	fs.StringVar(&f.dataDir, "data-dir", "pollen-data", "`directory` of the database, for --instance")
	fs.StringVar(&f.keyFile, "key-file", "", "`file` of the keys sealing secrets at rest, for --instance (default DATA-DIR/pollen.key; POLLEN_KEY overrides it)")
	fs.StringVar(&f.from, "from", "", "try a recorded case in `DIR` instead of the vendor")
	fs.IntVar(&f.poll, "poll", 1, "with --from: the case's poll to try (the ones before it are replayed first)")
	fs.Func("definitions", "definition files or folders that add to or override the built-in ones (`PATH`; repeatable)", func(s string) error {
		f.defs = append(f.defs, s)
		return nil
	})
	fs.StringVar(&f.since, "since", "", "start of the window: a `duration` before now (1h) or a date (default 1h; an instance: its stored cursor)")
	fs.StringVar(&f.format, "format", "text", "output `format`: text or json")
	fs.BoolVar(&f.showBodies, "show-bodies", false, "print the notifications' bodies")
	fs.StringVar(&f.record, "record", "", "write the trial as a golden case in `DIR` (new or empty)")
	fs.StringVar(&f.scrub, "scrub", "", "with --record: the scrub rule `file` (JSON: fields, emails, keep); default: names, emails, phones, addresses, free text")
	fs.StringVar(&f.description, "description", "", "with --record: the case's description")
	fs.IntVar(&f.pages, "pages", 50, "most vendor pages the trial reads")
	fs.DurationVar(&f.deadline, "deadline", 2*time.Minute, "longest the trial runs")
	fs.BoolVar(&f.allowPrivate, "allow-private-networks", false, "let the trial reach vendors on loopback and private addresses (simulators)")
	fs.Var(&stringList{&f.allowHosts}, "allow-hosts", "comma-separated `hosts` the trial may reach whatever their address")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "pollen try: "+format+"\n", a...)
		return exitUsage
	}
	if f.format != "text" && f.format != "json" {
		return usage("--format must be text or json, not %q", f.format)
	}
	pos := fs.Args()
	var bodyFile, resource string
	switch {
	case f.instance != 0 && f.from != "":
		return usage("give --instance or --from, not both")
	case f.instance != 0 || f.from != "":
		if len(pos) > 1 {
			return usage("unexpected arguments %v: give RESOURCE only", pos[1:])
		}
		if len(pos) == 1 {
			resource = pos[0]
		}
	case len(pos) == 0:
		fs.Usage()
		return usage("no BODY given")
	case len(pos) > 2:
		return usage("unexpected arguments %v", pos[2:])
	default:
		bodyFile = pos[0]
		if len(pos) == 2 {
			resource = pos[1]
		}
	}
	if f.from != "" && (f.since != "" || f.record != "") {
		return usage("--since and --record do not go with --from: a recorded case has its own window")
	}
	if f.scrub != "" && f.record == "" {
		return usage("--scrub goes with --record")
	}
	if f.pages < 1 {
		return usage("--pages must be 1 or more")
	}
	if f.record != "" && f.since == "" {
		f.since = "1h" // a recording starts from a window, never from a stored cursor
	}
	if f.since == "" && f.instance == 0 && f.from == "" {
		f.since = "1h"
	}
	rule := golden.DefaultScrub
	if f.scrub != "" {
		b, err := os.ReadFile(f.scrub)
		if err == nil {
			rule, err = golden.ReadScrubRule(b)
		}
		if err != nil {
			return usage("--scrub %s: %v", f.scrub, err)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	var since time.Time
	if f.since != "" {
		t, err := parseSince(f.since, now)
		if err != nil {
			return usage("--since %q: %v", f.since, err)
		}
		since = t
	}
	given, probs := definitions.ReadPaths(f.defs...)
	var defs []definitions.File
	for _, d := range given {
		if d.Kind == definitions.KindInstance {
			probs = append(probs, definitions.Problem{File: d.Name, Message: "an instance body does not belong in --definitions"})
			continue
		}
		defs = append(defs, d)
	}
	if len(probs) > 0 {
		printProblems(stdout, probs)
		return exitFail
	}

	tr := &trial{flags: f, now: now, since: since, defs: defs, rule: rule, stderr: stderr}
	var err error
	switch {
	case f.from != "":
		err = tr.fromCase(resource)
	case f.instance != 0:
		err = tr.fromInstance(ctx, resource)
	default:
		err = tr.fromBody(bodyFile, resource)
	}
	var pe *problemsErr
	if errors.As(err, &pe) {
		printProblems(stdout, pe.probs)
		return exitFail
	}
	if err != nil {
		fmt.Fprintf(stderr, "pollen try: %v\n", err)
		return exitFail
	}
	return tr.run(ctx, stdout)
}

// problemsErr carries problems to print as FILE: /pointer: message.
type problemsErr struct{ probs []definitions.Problem }

func (e *problemsErr) Error() string { return definitions.Describe(e.probs) }

func printProblems(w io.Writer, ps []definitions.Problem) {
	for _, p := range ps {
		fmt.Fprintln(w, p.Error())
	}
}

// trial is one pollen try under way: what is tried, from where, against what.
type trial struct {
	flags  tryFlags
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
	db := filepath.Join(f.dataDir, dbFile)
	if _, err := os.Stat(db); err != nil {
		return fmt.Errorf("no database in %s: %w", f.dataDir, err)
	}
	cfg := serverConfig{DataDir: f.dataDir, KeyFile: f.keyFile, Key: os.Getenv("POLLEN_KEY")}
	if cfg.Key == "" && cfg.KeyFile == "" {
		cfg.KeyFile = filepath.Join(f.dataDir, keyFile) // read it; never generate one
	}
	keys, err := loadKeys(cfg, hclog.NewNullLogger())
	if err != nil {
		return err
	}
	store, err := sqlite.Open(db, sqlite.Options{Sealer: keys})
	if err != nil {
		return err
	}
	defer store.Close()
	rec, err := store.Instance(ctx, f.instance)
	if err != nil {
		return fmt.Errorf("instance %d: %w", f.instance, err)
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
	pol, err := egress.New(egress.Options{AllowPrivate: tr.flags.allowPrivate, AllowHosts: tr.flags.allowHosts})
	if err != nil {
		return err
	}
	tr.src = httpsource.New(httpsource.Options{Dial: egressDial(pol)})
	return nil
}

// fromCase prepares a trial of a recorded case.
func (tr *trial) fromCase(resource string) error {
	c, err := golden.Read(tr.flags.from)
	if err != nil {
		return err
	}
	i := tr.flags.poll - 1
	if i < 0 || i >= len(c.Polls) {
		return fmt.Errorf("%s has %d polls; --poll %d is not one of them", c.Dir, len(c.Polls), tr.flags.poll)
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
	p := &engine.Poller{Clock: &enginetest.FixedClock{T: tr.now}, PageBudget: tr.flags.pages, Deadline: tr.flags.deadline,
		Account: engine.Account{AccountID: 1, CompanyID: 1, UserID: 1, User: "pollen"}}
	t, err := p.Try(ctx, tr.src, tr.in, tr.job, tr.cur)
	if t == nil {
		fmt.Fprintf(tr.stderr, "pollen try: %v\n", tr.in.ScrubError(err))
		return exitFail
	}
	out := tryOutput{TrialReport: t.Report(tr.in, tr.job, tr.since, tr.flags.showBodies, err)}
	body, _ := json.Marshal(tr.in.Spec)
	out.Findings = golden.Problems(tr.asm, tr.in, tr.job, tr.instName, body,
		tr.job.Lint([][]engine.SampleQuery{t.Samples(tr.in)}))
	if out.Findings == nil {
		out.Findings = []definitions.Problem{}
	}
	var recErr error
	if tr.flags.record != "" {
		if err != nil {
			recErr = errors.New("not recorded: the poll failed")
		} else {
			_, recErr = golden.Record(golden.Recording{Dir: tr.flags.record, Description: tr.description(), Trial: t,
				Instance: tr.in, Job: tr.job, Body: body, Since: tr.since, Definitions: tr.ownDefinitions(), Rule: tr.rule})
			if recErr == nil {
				out.Recorded = tr.flags.record
			}
		}
	}
	if tr.flags.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		_ = enc.Encode(out)
	} else {
		tr.printText(stdout, out)
	}
	if recErr != nil {
		fmt.Fprintf(tr.stderr, "pollen try: --record: %v\n", tr.in.ScrubError(recErr))
		return exitFail
	}
	if err != nil || out.Verdicts["unreadable"] > 0 || len(out.Findings) > 0 {
		return exitFail
	}
	return exitOK
}

func (tr *trial) description() string {
	if tr.flags.description != "" {
		return tr.flags.description
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
		src = "the recording in " + tr.flags.from
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

// parseSince reads --since: a duration before now (days as d), or a date.
func parseSince(s string, now time.Time) (time.Time, error) {
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
