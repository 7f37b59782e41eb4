package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Instance is an element instance as the API server keeps it. Configuration holds secrets: never
// log it.
type Instance struct {
	ID         int64
	Name       string
	Tags       []string
	Token      string // unique among instances when not empty
	ElementKey string
	// Configuration is the configuration as the client sent it, secrets included, stored as
	// JSON. It reads back with numbers as json.Number, so that they keep their exact digits.
	Configuration map[string]any
	CreatedAt     time.Time
	UpdatedAt     time.Time
	Disabled      bool
}

const instanceColumns = `id, name, tags, token, element_key, configuration, created_at, updated_at, disabled`

// CreateInstance stores a new instance and sets in.ID. Zero CreatedAt and UpdatedAt are set to now.
func (s *Store) CreateInstance(ctx context.Context, in *Instance) error {
	now := s.now().UTC()
	if in.CreatedAt.IsZero() {
		in.CreatedAt = now
	}
	if in.UpdatedAt.IsZero() {
		in.UpdatedAt = in.CreatedAt
	}
	args, err := instanceArgs(in)
	if err != nil {
		return fmt.Errorf("sqlite: create instance: %w", err)
	}
	var id int64
	err = s.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO instances
			(name, tags, token, element_key, configuration, created_at, updated_at, disabled)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, args...).Scan(&id)
	})
	if err != nil {
		return fmt.Errorf("sqlite: create instance: %w", err)
	}
	in.ID = id
	return nil
}

// UpdateInstance replaces the stored instance in.ID with in (all fields but ID and CreatedAt).
// A zero UpdatedAt is set to now. ErrNotFound when there is no such instance.
func (s *Store) UpdateInstance(ctx context.Context, in *Instance) error {
	if in.UpdatedAt.IsZero() {
		in.UpdatedAt = s.now().UTC()
	}
	args, err := instanceArgs(in)
	if err != nil {
		return fmt.Errorf("sqlite: update instance %d: %w", in.ID, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		var created sql.NullInt64
		err := tx.QueryRowContext(ctx, `UPDATE instances SET
				name = ?, tags = ?, token = ?, element_key = ?, configuration = ?, updated_at = ?, disabled = ?
			WHERE id = ? RETURNING created_at`,
			append(args[:5:5], args[6], args[7], in.ID)...).Scan(&created)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err == nil {
			in.CreatedAt = fromNanos(created)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: update instance %d: %w", in.ID, err)
	}
	return nil
}

// instanceArgs is in's column values, in instanceColumns order without id.
func instanceArgs(in *Instance) ([]any, error) {
	tags := in.Tags
	if tags == nil {
		tags = []string{}
	}
	tagsJSON, err := json.Marshal(tags)
	if err != nil {
		return nil, err
	}
	conf := in.Configuration
	if conf == nil {
		conf = map[string]any{}
	}
	confJSON, err := json.Marshal(conf)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	created, err := nanos(in.CreatedAt)
	if err != nil {
		return nil, err
	}
	updated, err := nanos(in.UpdatedAt)
	if err != nil {
		return nil, err
	}
	return []any{in.Name, string(tagsJSON), in.Token, in.ElementKey, string(confJSON), created, updated, in.Disabled}, nil
}

// Instance returns the instance with the given id, or ErrNotFound.
func (s *Store) Instance(ctx context.Context, id int64) (*Instance, error) {
	in, err := scanInstance(s.r.QueryRowContext(ctx, `SELECT `+instanceColumns+` FROM instances WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("sqlite: instance %d: %w", id, err)
	}
	return in, nil
}

// InstanceByToken returns the instance with the given (non-empty) token, or ErrNotFound.
func (s *Store) InstanceByToken(ctx context.Context, token string) (*Instance, error) {
	if token == "" {
		return nil, fmt.Errorf("sqlite: instance by token: %w", ErrNotFound)
	}
	in, err := scanInstance(s.r.QueryRowContext(ctx, `SELECT `+instanceColumns+` FROM instances WHERE token = ?`, token))
	if err != nil {
		return nil, fmt.Errorf("sqlite: instance by token: %w", err)
	}
	return in, nil
}

// Instances returns every instance, by id.
func (s *Store) Instances(ctx context.Context) ([]*Instance, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+instanceColumns+` FROM instances ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: instances: %w", err)
	}
	defer rows.Close()
	var out []*Instance
	for rows.Next() {
		in, err := scanInstance(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: instances: %w", err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: instances: %w", err)
	}
	return out, nil
}

// DeleteInstance removes the instance and its cursors. Its pending and queued notifications, and
// their events, become CANCELLED and stay in the history. ErrNotFound when there is no such instance.
func (s *Store) DeleteInstance(ctx context.Context, id int64) error {
	var cancelled int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE events SET status = ? WHERE notification_id IN
				(SELECT id FROM notifications WHERE instance_id = ? AND status IN ('PENDING', 'QUEUED'))`,
			StatusCancelled, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE notifications SET status = ?, next_attempt = NULL, updated_at = ?
			WHERE instance_id = ? AND status IN ('PENDING', 'QUEUED')`, StatusCancelled, s.now().UnixNano(), id)
		if err != nil {
			return err
		}
		cancelled, _ = res.RowsAffected()
		if _, err := tx.ExecContext(ctx, `DELETE FROM cursors WHERE instance_id = ?`, id); err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, `DELETE FROM instances WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete instance %d: %w", id, err)
	}
	s.log.Debug("instance deleted", "instance", id, "notifications_cancelled", cancelled)
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanInstance(r scanner) (*Instance, error) {
	var in Instance
	var tags, conf []byte
	var created, updated sql.NullInt64
	err := r.Scan(&in.ID, &in.Name, &tags, &in.Token, &in.ElementKey, &conf, &created, &updated, &in.Disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(tags, &in.Tags); err != nil {
		return nil, fmt.Errorf("instance %d tags: %w", in.ID, err)
	}
	d := json.NewDecoder(bytes.NewReader(conf))
	d.UseNumber()
	if err := d.Decode(&in.Configuration); err != nil {
		return nil, fmt.Errorf("instance %d configuration: %w", in.ID, err)
	}
	in.CreatedAt, in.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &in, nil
}
