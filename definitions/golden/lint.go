package golden

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
)

// Lint checks definitions against the case's recorded pages (engine.JobSpec.Lint): the given
// files over the built-in ones and the case's own definitions, so that a definition being
// written is checked against pages recorded from it. Each finding is a Problem on the file to
// fix: the resource or element definition that serves, or the case's instance.json where its
// poller configuration sets the field at fault. notChecked says why the case could not be
// linted at all (a definition it needs does not load: its own problems say why).
func (c *Case) Lint(given []definitions.File) (probs []definitions.Problem, notChecked string) {
	files, ps := c.Files()
	if len(ps) > 0 {
		return ps, ""
	}
	asm := definitions.Assemble(append(files, given...))
	instName := filepath.Join(c.Dir, InstanceFile)
	body, err := os.ReadFile(instName)
	if err != nil {
		return []definitions.Problem{{File: instName, Message: err.Error()}}, ""
	}
	var head struct {
		Element struct {
			Key string `json:"key"`
		} `json:"element"`
	}
	_ = json.Unmarshal(body, &head)
	if f := asm.Broken(head.Element.Key, ""); f != "" {
		return nil, fmt.Sprintf("element %s does not load (%s)", head.Element.Key, f)
	}
	in, ps := definitions.LoadInstance(asm.Catalog, instName, body)
	if len(ps) > 0 {
		for _, p := range ps {
			if name, ok := pollerResource(p.Pointer); ok {
				if f := asm.Broken(head.Element.Key, name); f != "" {
					return nil, fmt.Sprintf("resource %s of element %s does not load (%s)", name, head.Element.Key, f)
				}
			}
		}
		return ps, ""
	}
	givenName := map[string]string{} // identity: the given file
	for _, f := range given {
		id := f.Element
		if f.Kind == definitions.KindResource {
			id += "/" + f.Resource
		}
		givenName[id] = f.Name
	}
	// A given file that does not load falls back to the built-in one, as serve does; linting
	// that one instead would answer a question nobody asked.
	stale := func(el, res string) string {
		id := el
		if res != "" {
			id += "/" + res
		}
		if g, ok := givenName[id]; ok && asm.File(el, res) != g {
			return g
		}
		return ""
	}
	if g := stale(in.Element.Key, ""); g != "" {
		return nil, fmt.Sprintf("%s does not load", g)
	}

	// Every poll's queries of one job are linted together: more records, fewer guesses.
	byJob := map[string][][]engine.SampleQuery{}
	var jobs []string
	for _, p := range c.Polls {
		if _, seen := byJob[p.Job]; !seen {
			jobs = append(jobs, p.Job)
		}
		var poll []engine.SampleQuery
		for ai, names := range p.Answers {
			q := engine.SampleQuery{}
			if ai < len(p.Queries) {
				q.Query = p.Queries[ai]
			}
			for _, name := range names {
				path := filepath.Join(c.Dir, name)
				b, err := os.ReadFile(path)
				if err != nil {
					probs = append(probs, definitions.Problem{File: filepath.Join(c.Dir, CaseFile), Message: err.Error()})
					continue
				}
				q.Pages = append(q.Pages, engine.SamplePage{Name: path, Body: b})
			}
			poll = append(poll, q)
		}
		byJob[p.Job] = append(byJob[p.Job], poll)
	}
	for _, name := range jobs {
		job, ok := in.Job(name)
		if !ok {
			probs = append(probs, definitions.Problem{File: filepath.Join(c.Dir, CaseFile), Message: fmt.Sprintf("polls %q, which %s does not configure", name, instName)})
			continue
		}
		if g := stale(in.Element.Key, job.Resource.Name); g != "" {
			return probs, fmt.Sprintf("%s does not load", g)
		}
		probs = append(probs, Problems(asm, in, job, instName, body, job.Lint(byJob[name]))...)
	}
	return probs, ""
}

// Problems turns a job's findings into Problems on the files to fix: the resource or element
// definition that serves (asm knows its file), or the instance body (instName; body is its
// content) where its own poller configuration sets the field at fault.
func Problems(asm *definitions.Assembly, in *engine.Instance, job *engine.JobSpec, instName string, body []byte, fs []engine.Finding) []definitions.Problem {
	own := ownPoller(body)[job.ObjectType]
	var out []definitions.Problem
	seen := map[string]bool{}
	for _, f := range fs {
		p := place(asm, in, job, instName, own, f)
		if key := p.Error(); !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	return out
}

// place turns a finding into a Problem on the file that holds what is at fault.
func place(asm *definitions.Assembly, in *engine.Instance, job *engine.JobSpec, instName string, own map[string]bool, f engine.Finding) definitions.Problem {
	el, res := in.Element.Key, job.Resource.Name
	switch f.Place {
	case engine.PlaceElement:
		return definitions.Problem{File: asm.File(el, ""), Pointer: f.Pointer, Message: f.Msg}
	case engine.PlacePoller:
		top, _, _ := strings.Cut(strings.TrimPrefix(f.Pointer, "/"), "/")
		if own[top] {
			return definitions.Problem{File: instName, Pointer: engine.Pointer("configuration", engine.KeyPollerConfig, job.ObjectType) + f.Pointer, Message: f.Msg}
		}
		return definitions.Problem{File: asm.File(el, res), Pointer: "/polling" + f.Pointer, Message: f.Msg}
	}
	return definitions.Problem{File: asm.File(el, res), Pointer: f.Pointer, Message: f.Msg}
}

// ownPoller returns, per resource, the poller configuration fields an instance body sets itself
// (the rest come from the resource definition's polling default).
func ownPoller(body []byte) map[string]map[string]bool {
	var b struct {
		Configuration map[string]json.RawMessage `json:"configuration"`
	}
	_ = json.Unmarshal(body, &b)
	raw := b.Configuration[engine.KeyPollerConfig]
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s) // the poller configuration as a JSON string
	}
	var conf map[string]map[string]json.RawMessage
	_ = json.Unmarshal(raw, &conf)
	out := map[string]map[string]bool{}
	for name, fields := range conf {
		out[name] = map[string]bool{}
		for k := range fields {
			out[name][k] = true
		}
	}
	return out
}

// pollerResource returns the resource an instance body's problem is about, when its pointer is
// inside the poller configuration of one resource.
func pollerResource(pointer string) (string, bool) {
	rest, ok := strings.CutPrefix(pointer, "/configuration/"+engine.KeyPollerConfig+"/")
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(rest, "/")
	return strings.ReplaceAll(strings.ReplaceAll(name, "~1", "/"), "~0", "~"), true
}
