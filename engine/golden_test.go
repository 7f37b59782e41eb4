package engine_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/enginetest"
)

var update = flag.Bool("update", false, "rewrite the golden files' expected output")

// goldenCase is testdata/golden/NAME/case.json. Beside it: instance.json (a POST /instances
// body), the recorded vendor pages the polls name, an optional definitions/ folder that overrides
// or adds definitions, and expected.txt.
type goldenCase struct {
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"createdAt"`
	Polls       []struct {
		Now     time.Time  `json:"now"`
		Job     string     `json:"job"`
		Skew    string     `json:"vendorClockSkew,omitempty"` // e.g. "-90s": the vendor's clock against Pollen's
		Answers [][]string `json:"answers"`                   // per vendor query of the poll, in order: its pages
	} `json:"polls"`
}

// TestGolden runs every case in testdata/golden: a definition, an instance configuration and
// recorded vendor pages, polled in order; the vendor queries, events and notifications must
// match expected.txt. Add a case by adding a folder; run with -update to write its expected.txt,
// then read it.
func TestGolden(t *testing.T) {
	dirs, _ := filepath.Glob("../testdata/golden/*")
	if len(dirs) == 0 {
		t.Fatal("no golden cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) { runGolden(t, dir) })
	}
}

func runGolden(t *testing.T, dir string) {
	var gc goldenCase
	readJSON(t, filepath.Join(dir, "case.json"), &gc)
	files := definitions.Builtin()
	if extra := filepath.Join(dir, "definitions"); exists(extra) {
		more, probs := definitions.ReadDir(extra)
		if len(probs) > 0 {
			t.Fatal(definitions.Describe(probs))
		}
		files = append(files, more...)
	}
	cat, probs := definitions.Compile(files)
	if len(probs) > 0 {
		t.Fatal(definitions.Describe(probs))
	}
	body, err := os.ReadFile(filepath.Join(dir, "instance.json"))
	if err != nil {
		t.Fatal(err)
	}
	in, probs := definitions.LoadInstance(cat, "instance.json", body)
	if len(probs) > 0 {
		t.Fatal(definitions.Describe(probs))
	}
	in.ID = 7950647
	in.CreatedAt = gc.CreatedAt

	store := enginetest.NewMemStore()
	src := &enginetest.PageSource{}
	clock := &enginetest.FixedClock{}
	p := &engine.Poller{Source: src, Store: store, Clock: clock}
	var out strings.Builder
	for i, pl := range gc.Polls {
		clock.T = pl.Now
		src.Answers, src.Requests = nil, nil
		src.Now, src.Skew = time.Time{}, 0
		if pl.Skew != "" {
			d, err := time.ParseDuration(pl.Skew)
			if err != nil {
				t.Fatal(err)
			}
			src.Now, src.Skew = pl.Now, d
		}
		for _, pages := range pl.Answers {
			var ans [][]byte
			for _, name := range pages {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				ans = append(ans, b)
			}
			src.Answers = append(src.Answers, ans)
		}
		job, ok := in.Job(pl.Job)
		if !ok {
			t.Fatalf("poll %d: instance has no job %q", i+1, pl.Job)
		}
		store.Reset()
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
	enginetest.Golden(t, filepath.Join(dir, "expected.txt"), out.String(), *update)
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
