package instances

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
)

// A trial (pollen try, the console's Try button) runs one poll of one resource of an instance and
// commits nothing. The instance is compiled for it with that resource's poller configuration
// alone: the one stored, the one given (a configuration being edited), or the definition's
// default for a resource the instance does not poll yet.

// Trial returns the instance p sees, compiled for a trial of resource (TrialBody), and the job to
// try. Problems of the configuration tried are a *ProblemsError, scrubbed of the instance's
// secrets.
func (s *Service) Trial(ctx context.Context, p engine.Principal, id int64, resource string, conf json.RawMessage) (*engine.Instance, *engine.JobSpec, error) {
	rec, err := s.record(ctx, p, id)
	if err != nil {
		return nil, nil, err
	}
	return CompileTrial(s.rt.Catalog(), s.limits, rec, resource, conf)
}

// CompileTrial compiles a stored instance for a trial of resource (TrialBody) within lim, with
// the record's identity.
func CompileTrial(cat *engine.Catalog, lim engine.Limits, rec *engine.InstanceRecord, resource string, conf json.RawMessage) (*engine.Instance, *engine.JobSpec, error) {
	data, err := json.Marshal(recordBody(rec))
	if err != nil {
		return nil, nil, fmt.Errorf("encode stored instance %d: %w", rec.ID, err)
	}
	el, _ := cat.Element(rec.ElementKey)
	secrets := SecretValues(el, rec.Configuration)
	body, err := TrialBody(data, resource, conf)
	if err != nil {
		return nil, nil, &ProblemsError{What: "Invalid poller configuration", Problems: scrubProblems([]definitions.Problem{{
			Pointer: engine.Pointer("configuration", engine.KeyPollerConfig, resource), Message: err.Error()}}, secrets)}
	}
	in, probs := definitions.LoadInstanceWithin(cat, lim, fmt.Sprintf("instance %d", rec.ID), body)
	if len(probs) > 0 {
		return nil, nil, &ProblemsError{What: "The instance does not load for a trial of " + resource, Problems: scrubProblems(probs, secrets)}
	}
	identify(in, rec)
	job, ok := in.Job(resource)
	if !ok { // TrialBody configured it: a defect
		return nil, nil, fmt.Errorf("trial of instance %d has no job %q", rec.ID, resource)
	}
	return in, job, nil
}

// TrialBody returns an instance body that polls resource alone: with conf as its poller
// configuration when given, else the body's own, else {} (the resource definition's default).
// The poller configuration may be given as an object or as a JSON string, as the platform
// accepts it. The refresh interval is left out: a trial is one poll, and an interval allowed
// when the instance was created may be below the bounds of whoever tries it.
func TrialBody(body []byte, resource string, conf json.RawMessage) ([]byte, error) {
	var b map[string]any
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("the instance body is not a JSON object: %w", err)
	}
	cfg, _ := b["configuration"].(map[string]any)
	if cfg == nil {
		cfg = map[string]any{}
		b["configuration"] = cfg
	}
	pollers := map[string]any{}
	switch v := cfg[engine.KeyPollerConfig].(type) {
	case map[string]any:
		pollers = v
	case string:
		if strings.TrimSpace(v) != "" {
			if err := json.Unmarshal([]byte(v), &pollers); err != nil {
				return nil, fmt.Errorf("%s is not a JSON object: %w", engine.KeyPollerConfig, err)
			}
		}
	}
	var own any = map[string]any{}
	if len(conf) > 0 {
		if err := json.Unmarshal(conf, &own); err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		if s, ok := own.(string); ok { // the configuration as a JSON string
			if err := json.Unmarshal([]byte(s), &own); err != nil {
				return nil, fmt.Errorf("not a JSON object: %w", err)
			}
		}
	} else if v, ok := pollers[resource]; ok && v != nil {
		own = v
	}
	cfg[engine.KeyPollerConfig] = map[string]any{resource: own}
	delete(cfg, engine.KeyRefreshInterval)
	return json.Marshal(b)
}
