package instances

import (
	"context"
	"fmt"
	"strings"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
)

// SkipRecord lets a job of an instance the principal sees read past a record that does not read
// (no id, or a date that does not parse) and holds the job's position below it: the record the
// instance's pollers name as heldRecord. From the job's next poll on, that record is passed over
// (and counted as skipped); nothing else changes. The instance must be running the job.
func (s *Service) SkipRecord(ctx context.Context, p engine.Principal, id int64, objectType, record string) error {
	if _, err := s.record(ctx, p, id); err != nil {
		return err
	}
	record = strings.TrimSpace(record)
	if record == "" {
		return &ProblemsError{What: "Invalid skip", Problems: []definitions.Problem{{Pointer: "/record", Message: "is required: the heldRecord the instance's pollers show"}}}
	}
	if !s.rt.SkipRecord(id, objectType, record) {
		return fmt.Errorf("instance %d has no running job %q: %w", id, objectType, engine.ErrNotFound)
	}
	s.log.Info("held record skipped by an operator", "instance", id, "resource", objectType, "record", record, "user", p.UserID)
	return nil
}
