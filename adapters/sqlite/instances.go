package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/pollen-hq/pollen/engine"
)

// SealPurpose is what instance configurations are sealed for (the additional data of
// engine/seal).
const SealPurpose = "pollen instance configuration"

const instanceColumns = `i.id, i.name, i.tags, i.token, i.element_key, i.configuration, i.created_at, i.updated_at, i.disabled,
	COALESCE(o.user_id, 0), COALESCE(o.organization_id, 0)`

const instanceFrom = ` FROM instances AS i LEFT JOIN instance_owners AS o ON o.instance_id = i.id`

// CreateInstance stores a new instance with its owner and sets in.ID. Zero CreatedAt and
// UpdatedAt are set to now.
func (s *Store) CreateInstance(ctx context.Context, in *engine.InstanceRecord) error {
	now := s.now().UTC()
	if in.CreatedAt.IsZero() {
		in.CreatedAt = now
	}
	if in.UpdatedAt.IsZero() {
		in.UpdatedAt = in.CreatedAt
	}
	args, err := s.instanceArgs(in)
	if err != nil {
		return fmt.Errorf("sqlite: create instance: %w", err)
	}
	var id int64
	err = s.write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO instances
			(name, tags, token, element_key, configuration, created_at, updated_at, disabled)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, args...).Scan(&id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO instance_owners (instance_id, user_id, organization_id) VALUES (?, ?, ?)`,
			id, in.UserID, in.OrganizationID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create instance: %w", err)
	}
	in.ID = id
	return nil
}

// UpdateInstance replaces the stored instance in.ID with in (all fields but ID, CreatedAt and
// the owner). A zero UpdatedAt is set to now. ErrNotFound when there is no such instance.
func (s *Store) UpdateInstance(ctx context.Context, in *engine.InstanceRecord) error {
	if in.UpdatedAt.IsZero() {
		in.UpdatedAt = s.now().UTC()
	}
	args, err := s.instanceArgs(in)
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

// instanceArgs is in's column values, in the instances table's order without id. The
// configuration is sealed when the store has a sealer.
func (s *Store) instanceArgs(in *engine.InstanceRecord) ([]any, error) {
	tags := in.Tags
	if tags == nil {
		tags = []string{}
	}
	tagsJSON, err := json.Marshal(tags)
	if err != nil {
		return nil, err
	}
	conf, err := s.sealConfiguration(in.Configuration)
	if err != nil {
		return nil, err
	}
	created, err := nanos(in.CreatedAt)
	if err != nil {
		return nil, err
	}
	updated, err := nanos(in.UpdatedAt)
	if err != nil {
		return nil, err
	}
	return []any{in.Name, string(tagsJSON), in.Token, in.ElementKey, conf, created, updated, in.Disabled}, nil
}

// sealConfiguration encodes a configuration as stored (engine.SealConfiguration): sealed bytes
// (a BLOB), or JSON text without a sealer.
func (s *Store) sealConfiguration(conf map[string]any) (any, error) {
	b, err := engine.SealConfiguration(s.sealer, conf)
	if err != nil || s.sealer != nil {
		return b, err
	}
	return string(b), nil
}

// openConfiguration decodes a stored configuration (engine.OpenConfiguration): sealed, or JSON
// text (written without a sealer, or before sealing existed).
func (s *Store) openConfiguration(id int64, b []byte) (map[string]any, error) {
	return engine.OpenConfiguration(s.sealer, id, b)
}

// Instance returns the instance with the given id, or ErrNotFound.
func (s *Store) Instance(ctx context.Context, id int64) (*engine.InstanceRecord, error) {
	in, err := s.scanInstance(s.r.QueryRowContext(ctx, `SELECT `+instanceColumns+instanceFrom+` WHERE i.id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("sqlite: instance %d: %w", id, err)
	}
	return in, nil
}

// InstanceByToken returns the instance with the given (non-empty) token, or ErrNotFound.
func (s *Store) InstanceByToken(ctx context.Context, token string) (*engine.InstanceRecord, error) {
	if token == "" {
		return nil, fmt.Errorf("sqlite: instance by token: %w", ErrNotFound)
	}
	in, err := s.scanInstance(s.r.QueryRowContext(ctx, `SELECT `+instanceColumns+instanceFrom+` WHERE i.token = ?`, token))
	if err != nil {
		return nil, fmt.Errorf("sqlite: instance by token: %w", err)
	}
	return in, nil
}

// scopeWhere is the condition selecting the instances of a scope, on the alias o of
// instance_owners, with its arguments; "" for every instance.
func scopeWhere(sc engine.Scope, col string) (string, []any) {
	if sc.All() {
		return "", nil
	}
	where := []string{"o.organization_id = ?"}
	args := []any{sc.OrganizationID}
	if sc.UserID != 0 {
		where, args = append(where, "o.user_id = ?"), append(args, sc.UserID)
	}
	if sc.InstanceID != 0 {
		where, args = append(where, "o.instance_id = ?"), append(args, sc.InstanceID)
	}
	return col + ` IN (SELECT o.instance_id FROM instance_owners AS o WHERE ` + strings.Join(where, " AND ") + `)`, args
}

// Instances returns the instances of a scope (the zero Scope: all), by id.
func (s *Store) Instances(ctx context.Context, sc engine.Scope) ([]*engine.InstanceRecord, error) {
	q := `SELECT ` + instanceColumns + instanceFrom
	where, args := scopeWhere(sc, "i.id")
	if where != "" {
		q += ` WHERE ` + where
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY i.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: instances: %w", err)
	}
	defer rows.Close()
	var out []*engine.InstanceRecord
	for rows.Next() {
		in, err := s.scanInstance(rows)
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

// InstanceOwner returns who owns (or owned, once deleted) an instance: its user and organization.
// ErrNotFound for an instance that never existed.
func (s *Store) InstanceOwner(ctx context.Context, id int64) (userID, orgID int64, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT user_id, organization_id FROM instance_owners WHERE instance_id = ?`, id).Scan(&userID, &orgID)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: owner of instance %d: %w", id, err)
	}
	return userID, orgID, nil
}

// NotificationInstance returns the instance a notification belongs to. ErrNotFound when there
// is no such notification.
func (s *Store) NotificationInstance(ctx context.Context, id string) (int64, error) {
	var inst int64
	err := s.r.QueryRowContext(ctx, `SELECT instance_id FROM notifications WHERE id = ?`, id).Scan(&inst)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: notification %q: %w", id, err)
	}
	return inst, nil
}

// DeleteInstance removes the instance and its cursors. Its pending and queued notifications, and
// their events, become CANCELLED and stay in the history, as does its owner. ErrNotFound when
// there is no such instance.
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

func (s *Store) scanInstance(r scanner) (*engine.InstanceRecord, error) {
	var in engine.InstanceRecord
	var tags, conf []byte
	var created, updated sql.NullInt64
	err := r.Scan(&in.ID, &in.Name, &tags, &in.Token, &in.ElementKey, &conf, &created, &updated, &in.Disabled,
		&in.UserID, &in.OrganizationID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(tags, &in.Tags); err != nil {
		return nil, fmt.Errorf("instance %d tags: %w", in.ID, err)
	}
	if in.Configuration, err = s.openConfiguration(in.ID, conf); err != nil {
		return nil, err
	}
	in.CreatedAt, in.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &in, nil
}

// Reseal seals again every instance configuration that is not sealed with the store's primary
// key (in clear from before sealing existed, or sealed with a key being rotated out), in one
// transaction, then rewrites the database file so that no old copy stays in free pages or the
// WAL. It returns how many configurations it sealed again.
func (s *Store) Reseal(ctx context.Context) (int, error) {
	if s.sealer == nil {
		return 0, errors.New("sqlite: reseal: the store has no key")
	}
	primary, _ := s.sealer.(interface{ Primary([]byte) bool })
	n := 0
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, configuration FROM instances`)
		if err != nil {
			return err
		}
		type row struct {
			id   int64
			conf []byte
		}
		var stale []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.conf); err != nil {
				rows.Close()
				return err
			}
			if len(r.conf) > 0 && r.conf[0] != '{' && primary != nil && primary.Primary(r.conf) {
				continue
			}
			stale = append(stale, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range stale {
			conf, err := s.openConfiguration(r.id, r.conf)
			if err != nil {
				return err
			}
			sealed, err := s.sealConfiguration(conf)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE instances SET configuration = ? WHERE id = ?`, sealed, r.id); err != nil {
				return err
			}
		}
		n = len(stale)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: reseal: %w", err)
	}
	if n > 0 && !s.memory {
		if err := s.compact(ctx); err != nil {
			return n, fmt.Errorf("sqlite: reseal: %w", err)
		}
	}
	return n, nil
}

// compact rewrites the database and empties the WAL, so that no deleted or overwritten content
// stays on disk.
func (s *Store) compact(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `VACUUM`); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}
