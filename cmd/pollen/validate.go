package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/pollen-hq/pollen/cmd/internal/cli"
	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/definitions/golden"
)

const validateDoc = `Validate checks element definitions, resource definitions and instance bodies
(POST /instances bodies) offline, with exactly the load path 'pollen serve' uses.

A PATH is a file or a folder, walked for *.json files. Definitions are recognised by
where they sit (ELEMENT/element.json, ELEMENT/resources/NAME.json); other JSON
objects with "element" and "configuration" are instance bodies. Definitions given
override the built-in ones, and instance bodies are checked against the result.

Every problem is printed as FILE: /json/pointer: message, once: a definition that
does not load is reported on its own file, and the files that depend on it (the
resources of a broken element, instance bodies that poll a broken resource) are
listed on stderr as not checked, not as more problems. A JSON syntax error says
its line and column. Flags may also follow the paths.

--samples DIR lints the definitions against recorded vendor pages: DIR is a case
recorded by 'pollen try --record' (or any golden case: case.json, instance.json,
the pages), or a folder of them. Each case is polled with the definitions given,
over the built-in ones and the case's own definitions/ folder, and checked: the
records path finds an array in every page; the id and date fields are in every
record and the dates read with the declared formats; updatedOrder is the order
of the pages; the fields the where clause and the filters read are in the
records, with the types they compare them with; the fields' declared types hold;
the deleted signal is true for what the deleted query lists; paging ends on the
last page recorded. A finding is printed like a structural problem, on the file
to fix (the definition, or the case's instance.json where its poller
configuration sets the field). Paths are optional with --samples.

The exit status is 0 when everything is valid, 1 when anything is not, and 2 on
a usage error.`

func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlags("pollen validate", "[--format text|json] [--samples DIR]... PATH...", validateDoc, stderr)
	format := fs.String("format", "text", "output `format`: text or json")
	var samples []string
	fs.Func("samples", "lint the definitions against the recorded cases in `DIR` (repeatable)", func(s string) error {
		samples = append(samples, s)
		return nil
	})
	if code, ok := cli.ParseFlags(fs, args); !ok {
		return code
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "pollen validate: --format must be text or json, not %q\n", *format)
		return cli.ExitUsage
	}
	if fs.NArg() == 0 && len(samples) == 0 {
		fmt.Fprintln(stderr, "pollen validate: no PATH given")
		fs.Usage()
		return cli.ExitUsage
	}
	rep := validatePaths(fs.Args()...)
	if len(samples) > 0 {
		if err := lintSamples(&rep, fs.Args(), samples); err != nil {
			fmt.Fprintf(stderr, "pollen validate: --samples: %v\n", err)
			return cli.ExitUsage
		}
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		for _, p := range rep.Problems {
			fmt.Fprintln(stdout, p.Error())
		}
		notChecked := 0
		for _, f := range rep.Files {
			if f.NotChecked != "" {
				notChecked++
				fmt.Fprintf(stderr, "%s: not checked: %s\n", f.File, f.NotChecked)
			}
		}
		for _, c := range rep.Samples {
			if c.NotChecked != "" {
				notChecked++
				fmt.Fprintf(stderr, "%s: not checked: %s\n", c.Dir, c.NotChecked)
			}
		}
		fmt.Fprintf(stderr, "%d files checked, %d valid, %d problems", len(rep.Files), rep.valid(), len(rep.Problems))
		if len(rep.Samples) > 0 {
			fmt.Fprintf(stderr, ", %d recorded cases linted", len(rep.Samples))
		}
		if notChecked > 0 {
			fmt.Fprintf(stderr, ", %d not checked whole until the definitions they depend on load", notChecked)
		}
		fmt.Fprintln(stderr)
	}
	if len(rep.Problems) > 0 {
		return cli.ExitFail
	}
	return cli.ExitOK
}

type validateReport struct {
	Files    []fileReport          `json:"files"`
	Problems []definitions.Problem `json:"problems"`
	// Samples are the recorded cases --samples linted.
	Samples []sampleReport `json:"samples,omitempty"`
}

// sampleReport is one recorded case --samples linted.
type sampleReport struct {
	Dir string `json:"dir"`
	// NotChecked says why the case was not linted: a definition it needs does not load.
	NotChecked string `json:"notChecked,omitempty"`
}

// lintSamples lints the definition files among paths against the recorded cases in dirs
// (definitions/golden), adding what it finds to rep.
func lintSamples(rep *validateReport, paths, dirs []string) error {
	var defs []definitions.File
	if len(paths) > 0 {
		files, _ := definitions.ReadPaths(paths...) // their problems are rep's already
		for _, f := range files {
			if f.Kind != definitions.KindInstance {
				defs = append(defs, f)
			}
		}
	}
	for _, d := range dirs {
		cases, err := golden.Find(d)
		if err != nil {
			return err
		}
		for _, dir := range cases {
			sr := sampleReport{Dir: dir}
			c, err := golden.Read(dir)
			if err != nil {
				rep.Problems = append(rep.Problems, definitions.Problem{File: filepath.Join(dir, golden.CaseFile), Message: err.Error()})
				rep.Samples = append(rep.Samples, sr)
				continue
			}
			probs, why := c.Lint(defs)
			rep.Problems = append(rep.Problems, probs...)
			sr.NotChecked = why
			rep.Samples = append(rep.Samples, sr)
		}
	}
	return nil
}

type fileReport struct {
	File  string `json:"file"`
	Kind  string `json:"kind"`
	Valid bool   `json:"valid"`
	// NotChecked says why the file was not checked whole: a definition it depends on does not
	// load (that definition's file has the problems). Such a file is not valid.
	NotChecked string `json:"notChecked,omitempty"`
}

func (r validateReport) valid() int {
	n := 0
	for _, f := range r.Files {
		if f.Valid {
			n++
		}
	}
	return n
}

// validatePaths runs the shared load path and reports per file.
func validatePaths(paths ...string) validateReport {
	files, probs := definitions.Validate(paths...)
	bad := map[string]bool{}
	rep := validateReport{Problems: []definitions.Problem{}, Files: []fileReport{}}
	for _, p := range probs {
		bad[p.File] = true
		rep.Problems = append(rep.Problems, p)
	}
	kinds := map[definitions.Kind]string{definitions.KindElement: "element", definitions.KindResource: "resource", definitions.KindInstance: "instance"}
	for _, f := range files {
		rep.Files = append(rep.Files, fileReport{File: f.Name, Kind: kinds[f.Kind], Valid: !bad[f.Name] && f.NotChecked == "", NotChecked: f.NotChecked})
	}
	return rep
}
