package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pollen-hq/pollen/cmd/internal/cli"
	"github.com/pollen-hq/pollen/cmd/internal/trial"
	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/definitions/golden"
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

func runTry(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlags("pollen try", "[flags] (BODY | --instance ID | --from DIR) [RESOURCE]", tryDoc, stderr)
	var f struct {
		trial.Options
		since, format, scrub string
		defPaths             []string
	}
	fs.Int64Var(&f.Instance, "instance", 0, "try the stored instance with this `id` (with --data-dir)")
	fs.StringVar(&f.DataDir, "data-dir", "pollen-data", "`directory` of the database, for --instance")
	fs.StringVar(&f.KeyFile, "key-file", "", "`file` of the keys sealing secrets at rest, for --instance (default DATA-DIR/pollen.key; POLLEN_KEY overrides it)")
	fs.StringVar(&f.From, "from", "", "try a recorded case in `DIR` instead of the vendor")
	fs.IntVar(&f.Poll, "poll", 1, "with --from: the case's poll to try (the ones before it are replayed first)")
	fs.Func("definitions", "definition files or folders that add to or override the built-in ones (`PATH`; repeatable)", func(s string) error {
		f.defPaths = append(f.defPaths, s)
		return nil
	})
	fs.StringVar(&f.since, "since", "", "start of the window: a `duration` before now (1h) or a date (default 1h; an instance: its stored cursor)")
	fs.StringVar(&f.format, "format", "text", "output `format`: text or json")
	fs.BoolVar(&f.ShowBodies, "show-bodies", false, "print the notifications' bodies")
	fs.StringVar(&f.Record, "record", "", "write the trial as a golden case in `DIR` (new or empty)")
	fs.StringVar(&f.scrub, "scrub", "", "with --record: the scrub rule `file` (JSON: fields, emails, keep); default: names, emails, phones, addresses, free text")
	fs.StringVar(&f.Description, "description", "", "with --record: the case's description")
	fs.IntVar(&f.Pages, "pages", 50, "most vendor pages the trial reads")
	fs.DurationVar(&f.Deadline, "deadline", 2*time.Minute, "longest the trial runs")
	fs.BoolVar(&f.AllowPrivate, "allow-private-networks", false, "let the trial reach vendors on loopback and private addresses (simulators)")
	fs.Var(cli.StringList{S: &f.AllowHosts}, "allow-hosts", "comma-separated `hosts` the trial may reach whatever their address")
	if code, ok := cli.ParseFlags(fs, args); !ok {
		return code
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "pollen try: "+format+"\n", a...)
		return cli.ExitUsage
	}
	if f.format != "text" && f.format != "json" {
		return usage("--format must be text or json, not %q", f.format)
	}
	pos := fs.Args()

	switch {
	case f.Instance != 0 && f.From != "":
		return usage("give --instance or --from, not both")
	case f.Instance != 0 || f.From != "":
		if len(pos) > 1 {
			return usage("unexpected arguments %v: give RESOURCE only", pos[1:])
		}
		if len(pos) == 1 {
			f.Resource = pos[0]
		}
	case len(pos) == 0:
		fs.Usage()
		return usage("no BODY given")
	case len(pos) > 2:
		return usage("unexpected arguments %v", pos[2:])
	default:
		f.Body = pos[0]
		if len(pos) == 2 {
			f.Resource = pos[1]
		}
	}
	if f.From != "" && (f.since != "" || f.Record != "") {
		return usage("--since and --record do not go with --from: a recorded case has its own window")
	}
	if f.scrub != "" && f.Record == "" {
		return usage("--scrub goes with --record")
	}
	if f.Pages < 1 {
		return usage("--pages must be 1 or more")
	}
	if f.Record != "" && f.since == "" {
		f.since = "1h" // a recording starts from a window, never from a stored cursor
	}
	if f.since == "" && f.Instance == 0 && f.From == "" {
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
	f.Now = time.Now().UTC().Truncate(time.Second)
	if f.since != "" {
		t, err := trial.ParseSince(f.since, f.Now)
		if err != nil {
			return usage("--since %q: %v", f.since, err)
		}
		f.Since = t
	}
	given, probs := definitions.ReadPaths(f.defPaths...)
	for _, d := range given {
		if d.Kind == definitions.KindInstance {
			probs = append(probs, definitions.Problem{File: d.Name, Message: "an instance body does not belong in --definitions"})
			continue
		}
		f.Definitions = append(f.Definitions, d)
	}
	if len(probs) > 0 {
		trial.PrintProblems(stdout, probs)
		return cli.ExitFail
	}
	f.Scrub, f.JSON, f.Key, f.Stderr = rule, f.format == "json", os.Getenv("POLLEN_KEY"), stderr
	return trial.Run(ctx, f.Options, stdout)
}
