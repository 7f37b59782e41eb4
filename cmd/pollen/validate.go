package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/pollen-hq/pollen/definitions"
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

The exit status is 0 when everything is valid, 1 when anything is not, and 2 on
a usage error.`

func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", "[--format text|json] PATH...", validateDoc, stderr)
	format := fs.String("format", "text", "output `format`: text or json")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "pollen validate: --format must be text or json, not %q\n", *format)
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "pollen validate: no PATH given")
		fs.Usage()
		return exitUsage
	}
	rep := validatePaths(fs.Args()...)
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
		fmt.Fprintf(stderr, "%d files checked, %d valid, %d problems", len(rep.Files), rep.valid(), len(rep.Problems))
		if notChecked > 0 {
			fmt.Fprintf(stderr, ", %d not checked whole until the definitions they depend on load", notChecked)
		}
		fmt.Fprintln(stderr)
	}
	if len(rep.Problems) > 0 {
		return exitFail
	}
	return exitOK
}

type validateReport struct {
	Files    []fileReport          `json:"files"`
	Problems []definitions.Problem `json:"problems"`
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
