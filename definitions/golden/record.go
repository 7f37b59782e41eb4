package golden

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
)

// Recording is a trial to write as a golden case.
type Recording struct {
	Dir         string
	Description string
	Trial       *engine.Trial
	Instance    *engine.Instance // as tried
	Job         *engine.JobSpec
	// Body is the instance body tried (its secrets are replaced in the case's instance.json).
	Body []byte
	// Since is where the trial's window started: the case's createdAt. A trial from a stored
	// cursor cannot be recorded.
	Since time.Time
	// Definitions are the definition files the trial used that are not built in: they are
	// copied into the case's definitions/ folder, so that it replays with them.
	Definitions []definitions.File
	Rule        ScrubRule
}

// Record writes a trial as a golden case in r.Dir, which must not exist or be empty: the pages
// as the vendor served them (scrubbed by r.Rule and of the instance's credentials), case.json,
// instance.json (secrets replaced), the non-built-in definitions, scrub.json, and expected.txt
// from replaying the case, exactly as go test does. It fails when the replay does not give the
// events the trial found (a scrubbed field a filter reads, say): such a case would not test
// what was tried.
func Record(r Recording) (*Case, error) {
	t := r.Trial
	if r.Since.IsZero() {
		return nil, errors.New("a trial from a stored cursor cannot be recorded: give --since")
	}
	for _, rq := range t.Requests {
		if rq.Err != nil {
			return nil, fmt.Errorf("a request failed: %v", r.Instance.ScrubError(rq.Err))
		}
	}
	if len(t.Requests) == 0 {
		return nil, errors.New("the trial made no request")
	}
	if t.Result.Stopped != "" {
		return nil, fmt.Errorf("the trial stopped before the end of its lists (%s): a case replays whole polls; allow more pages or a shorter window", t.Result.Stopped)
	}
	if err := emptyDir(r.Dir); err != nil {
		return nil, err
	}
	body, err := scrubBody(r.Body, r.Instance, r.Rule)
	if err != nil {
		return nil, err
	}
	// The case's instance calls its vendor at another base URL: the pages' links follow it.
	files := append(definitions.Builtin(), r.Definitions...)
	cat, probs := definitions.Compile(files)
	if len(probs) > 0 {
		return nil, errors.New(definitions.Describe(probs))
	}
	recIn, probs := definitions.LoadInstance(cat, InstanceFile, body)
	if len(probs) > 0 {
		return nil, fmt.Errorf("the scrubbed instance body does not load: %s", definitions.Describe(probs))
	}
	keep := []string{r.Job.Poller.IDField}
	if d := r.Job.Poller.DatesConfiguration; d != nil {
		keep = append(keep, d.UpdatedDateField, d.CreatedDateField)
	}
	sc := newScrubber(r.Rule, r.Instance.Scrub, keep, origin(r.Instance.Endpoint.BaseURL), origin(recIn.Endpoint.BaseURL))

	poll := Poll{Now: t.Now.UTC(), Job: r.Job.ObjectType}
	if pg := t.Requests[0].Page; !pg.Date.IsZero() && !pg.Sent.IsZero() {
		if skew := pg.Date.Sub(pg.Sent).Round(time.Second); skew <= -2*time.Second || skew >= 2*time.Second {
			poll.Skew = skew.String()
		}
	}
	for _, idx := range t.Answers() {
		var names []string
		for _, i := range idx {
			name := fmt.Sprintf("p%d.json", i+1)
			out, err := scrubPage(t.Requests[i].Page.Body, sc)
			if err != nil {
				return nil, fmt.Errorf("page %d: %w", i+1, err)
			}
			if err := os.WriteFile(filepath.Join(r.Dir, name), out, 0o644); err != nil {
				return nil, err
			}
			names = append(names, name)
		}
		poll.Answers = append(poll.Answers, names)
		poll.Queries = append(poll.Queries, sc.text(t.Query(idx[0], r.Instance), "", "\x00"))
	}
	c := &Case{Dir: r.Dir, Description: r.Description, CreatedAt: r.Since.UTC(), Polls: []Poll{poll}}
	if err := writeJSON(filepath.Join(r.Dir, CaseFile), c); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(r.Dir, InstanceFile), body, 0o644); err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(r.Dir, ScrubFile), r.Rule); err != nil {
		return nil, err
	}
	for _, f := range r.Definitions {
		rel := filepath.Join(f.Element, "element.json")
		if f.Kind == definitions.KindResource {
			rel = filepath.Join(f.Element, "resources", f.Resource+".json")
		}
		p := filepath.Join(r.Dir, DefsDir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		// The copy sits elsewhere: its relative $schema would point nowhere.
		data := schemaLine.ReplaceAll(f.Data, nil)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return nil, err
		}
	}
	out, events, err := c.replay()
	if err != nil {
		return nil, fmt.Errorf("replaying the recording: %w", err)
	}
	if err := os.WriteFile(filepath.Join(r.Dir, ExpectedFile), []byte(out), 0o644); err != nil {
		return nil, err
	}
	if want, got := trialEvents(t), replayEvents(events); !slices.Equal(want, got) {
		return c, &MismatchError{Dir: r.Dir, Trial: want, Replay: got}
	}
	return c, nil
}

// schemaLine is a definition's "$schema" member, on a line of its own.
var schemaLine = regexp.MustCompile(`(?m)^[ \t]*"\$schema"[ \t]*:[ \t]*"[^"]*"[ \t]*,[ \t]*\r?\n`)

// MismatchError says a recording does not replay to the events its trial found.
type MismatchError struct {
	Dir           string
	Trial, Replay []string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s does not replay to the events the trial found (a field the scrub rule replaced is read by a filter?): trial %v, replay %v",
		e.Dir, e.Trial, e.Replay)
}

func trialEvents(t *engine.Trial) []string {
	var out []string
	for _, r := range t.Records {
		if r.Verdict == engine.VerdictEvent {
			out = append(out, fmt.Sprintf("%s %s %s", r.Type, r.ID, r.Updated.UTC().Format(time.RFC3339Nano)))
		}
	}
	slices.Sort(out)
	return out
}

func replayEvents(es []engine.Event) []string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s %s %s", e.Type, e.ObjectID, e.Date.UTC().Format(time.RFC3339Nano)))
	}
	slices.Sort(out)
	return out
}

// emptyDir makes dir, or checks that it is empty.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return os.MkdirAll(dir, 0o755)
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("%s is not empty: record into a new folder", dir)
	}
	return nil
}

// origin is a URL's scheme://host[:port].
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// recordedBase is the vendor base URL of a recorded instance that set base.url: nothing of the
// live address stays.
const recordedBase = "https://vendor.example"

// scrubBody replaces what identifies the account in an instance body: secret values, the
// values the vendor's base URL is built from, the base and callback URLs, email addresses, the
// name.
func scrubBody(data []byte, in *engine.Instance, rule ScrubRule) ([]byte, error) {
	var b map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("the instance body: %w", err)
	}
	b["name"] = "recorded"
	delete(b, "description")
	cfg, _ := b["configuration"].(map[string]any)
	for k, v := range cfg {
		s, isString := v.(string)
		switch {
		case k == engine.KeyPollerConfig:
		case in.IsSecretValue(k):
			cfg[k] = engine.Masked
		case k == engine.KeyBaseURL:
			cfg[k] = recordedBase
		case k == engine.KeyCallbackURL:
			cfg[k] = "https://receiver.example/hooks"
		case isString && strings.Contains(in.Element.Spec.BaseURL, "{"+k+"}"):
			cfg[k] = "example"
		case isString && rule.Emails && emailPattern.MatchString(s):
			cfg[k] = emailPattern.ReplaceAllString(s, "person@example.com")
		}
	}
	return marshalIndent(b)
}

// scrubPage scrubs one page's JSON; a page that is not JSON is scrubbed of credentials only.
func scrubPage(body []byte, sc *scrubber) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return []byte(sc.secrets(string(body))), nil
	}
	return marshalIndent(sc.value(v, "", ""))
}

func marshalIndent(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeJSON(path string, v any) error {
	b, err := marshalIndent(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
