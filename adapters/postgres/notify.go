package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pollen-hq/pollen/engine"
)

// Notices between the nodes sharing the store: PostgreSQL's LISTEN/NOTIFY on a channel named
// after the store's schema (NoticeChannel), so that installations, or tests, sharing a database
// in different schemas never hear each other. A notice is its JSON; PostgreSQL delivers it to
// every session listening at the time it commits, and to none that is not: a node that was not
// listening catches up by reading every instance again (engine.Notices).

// NoticeChannel is the channel of the store's notices: "pollen_changes_" and the schema's name,
// or a digest of it when that would pass PostgreSQL's 63 bytes.
func (s *Store) NoticeChannel() string {
	ch := "pollen_changes_" + s.schema
	if len(ch) > 63 {
		sum := sha256.Sum256([]byte(s.schema))
		ch = "pollen_changes_" + hex.EncodeToString(sum[:16])
	}
	return ch
}

// Notify implements engine.Notices.
func (s *Store) Notify(ctx context.Context, n engine.Notice) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, s.NoticeChannel(), string(b)); err != nil {
		return fmt.Errorf("postgres: notify: %w", err)
	}
	return nil
}

// Listen implements engine.Notices, on a connection of its own taken from the pool.
func (s *Store) Listen(ctx context.Context, ready func(), f func(engine.Notice)) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: listen: %w", err)
	}
	conn := pc.Hijack() // a listening session is not handed back to the pool
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.NoticeChannel()}.Sanitize()); err != nil {
		return fmt.Errorf("postgres: listen: %w", err)
	}
	if ready != nil {
		ready()
	}
	for {
		msg, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("postgres: listen: %w", err)
		}
		var n engine.Notice
		if err := json.Unmarshal([]byte(msg.Payload), &n); err != nil {
			s.log.Warn("a notice that does not read was ignored", "error", err)
			continue
		}
		f(n)
	}
}

var _ engine.Notices = (*Store)(nil)
