package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pollen-hq/pollen/engine"
)

// SealPurpose is what instance configurations are sealed for (the additional data of
// engine/seal): adapters/sqlite's, so that a configuration sealed by one store opens in the other.
const SealPurpose = "pollen instance configuration"

const instanceColumns = `i.id, i.name, i.tags, i.token, i.element_key, i.configuration, i.created_at, i.updated_at, i.disabled,
	COALESCE(o.user_id, 0), COALESCE(o.organization_id, 0)`

const instanceFrom = ` FROM instances AS i LEFT JOIN instance_owners AS o ON o.instance_id = i.id`

// instanceRow is an instance's column values, as stored.
type instanceRow struct {
	name, tags, token, element string
	conf                       []byte
	created, updated           *int64
	disabled                   bool
}

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
	r, err := s.instanceRow(in)
	if err != nil {
		return fmt.Errorf("postgres: create instance: %w", err)
	}
	var id int64
	err = s.write(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO instances
			(name, tags, token, element_key, configuration, created_at, updated_at, disabled)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			r.name, r.tags, r.token, r.element, r.conf, r.created, r.updated, r.disabled).Scan(&id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO instance_owners (instance_id, user_id, organization_id) VALUES ($1, $2, $3)`,
			id, in.UserID, in.OrganizationID)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: create instance: %w", err)
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
	r, err := s.instanceRow(in)
	if err != nil {
		return fmt.Errorf("postgres: update instance %d: %w", in.ID, err)
	}
	var created *int64
	err = s.write(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE instances SET
				name = $1, tags = $2, token = $3, element_key = $4, configuration = $5, updated_at = $6, disabled = $7
			WHERE id = $8 RETURNING created_at`,
			r.name, r.tags, r.token, r.element, r.conf, r.updated, r.disabled, in.ID).Scan(&created)
		if isNoRows(err) {
			return ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: update instance %d: %w", in.ID, err)
	}
	in.CreatedAt = fromNanos(created)
	return nil
}

// instanceRow is in as stored. The configuration is sealed when the store has a sealer.
func (s *Store) instanceRow(in *engine.InstanceRecord) (instanceRow, error) {
	tags := in.Tags
	if tags == nil {
		tags = []string{}
	}
	tagsJSON, err := json.Marshal(tags)
	if err != nil {
		return instanceRow{}, err
	}
	conf, err := s.sealConfiguration(in.Configuration)
	if err != nil {
		return instanceRow{}, err
	}
	created, err := nanos(in.CreatedAt)
	if err != nil {
		return instanceRow{}, err
	}
	updated, err := nanos(in.UpdatedAt)
	if err != nil {
		return instanceRow{}, err
	}
	return instanceRow{name: in.Name, tags: string(tagsJSON), token: in.Token, element: in.ElementKey, conf: conf,
		created: created, updated: updated, disabled: in.Disabled}, nil
}

// sealConfiguration encodes a configuration as stored (engine.SealConfiguration).
func (s *Store) sealConfiguration(conf map[string]any) ([]byte, error) {
	return engine.SealConfiguration(s.sealer, conf)
}

// openConfiguration decodes a stored configuration (engine.OpenConfiguration).
func (s *Store) openConfiguration(id int64, b []byte) (map[string]any, error) {
	return engine.OpenConfiguration(s.sealer, id, b)
}

// Instance returns the instance with the given id, or ErrNotFound.
func (s *Store) Instance(ctx context.Context, id int64) (*engine.InstanceRecord, error) {
	in, err := s.scanInstance(s.pool.QueryRow(ctx, `SELECT `+instanceColumns+instanceFrom+` WHERE i.id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("postgres: instance %d: %w", id, err)
	}
	return in, nil
}

// InstanceByToken returns the instance with the given (non-empty) token, or ErrNotFound.
func (s *Store) InstanceByToken(ctx context.Context, token string) (*engine.InstanceRecord, error) {
	if token == "" {
		return nil, fmt.Errorf("postgres: instance by token: %w", ErrNotFound)
	}
	in, err := s.scanInstance(s.pool.QueryRow(ctx, `SELECT `+instanceColumns+instanceFrom+` WHERE i.token = $1`, token))
	if err != nil {
		return nil, fmt.Errorf("postgres: instance by token: %w", err)
	}
	return in, nil
}

// scopeWhere is the condition selecting the instances of a scope by the column col, its
// arguments added to a; "" for every instance.
func scopeWhere(sc engine.Scope, col string, a *args) string {
	if sc.All() {
		return ""
	}
	where := []string{"o.organization_id = " + a.add(sc.OrganizationID)}
	if sc.UserID != 0 {
		where = append(where, "o.user_id = "+a.add(sc.UserID))
	}
	if sc.InstanceID != 0 {
		where = append(where, "o.instance_id = "+a.add(sc.InstanceID))
	}
	return col + ` IN (SELECT o.instance_id FROM instance_owners AS o WHERE ` + strings.Join(where, " AND ") + `)`
}

// Instances returns the instances of a scope (the zero Scope: all), by id.
func (s *Store) Instances(ctx context.Context, sc engine.Scope) ([]*engine.InstanceRecord, error) {
	q := `SELECT ` + instanceColumns + instanceFrom
	var a args
	if where := scopeWhere(sc, "i.id", &a); where != "" {
		q += ` WHERE ` + where
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY i.id`, a...)
	if err != nil {
		return nil, fmt.Errorf("postgres: instances: %w", err)
	}
	defer rows.Close()
	var out []*engine.InstanceRecord
	for rows.Next() {
		in, err := s.scanInstance(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: instances: %w", err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: instances: %w", err)
	}
	return out, nil
}

// InstanceOwner returns who owns (or owned, once deleted) an instance: its user and organization.
// ErrNotFound for an instance that never existed.
func (s *Store) InstanceOwner(ctx context.Context, id int64) (userID, orgID int64, err error) {
	err = s.pool.QueryRow(ctx, `SELECT user_id, organization_id FROM instance_owners WHERE instance_id = $1`, id).Scan(&userID, &orgID)
	if isNoRows(err) {
		err = ErrNotFound
	}
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: owner of instance %d: %w", id, err)
	}
	return userID, orgID, nil
}

// NotificationInstance returns the instance a notification belongs to. ErrNotFound when there
// is no such notification.
func (s *Store) NotificationInstance(ctx context.Context, id string) (int64, error) {
	var inst int64
	err := s.pool.QueryRow(ctx, `SELECT instance_id FROM notifications WHERE id = $1`, id).Scan(&inst)
	if isNoRows(err) {
		err = ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: notification %q: %w", id, err)
	}
	return inst, nil
}

// DeleteInstance removes the instance and its cursors. Its pending and queued notifications, and
// their events, become CANCELLED and stay in the history, as does its owner. ErrNotFound when
// there is no such instance. The instance is held FOR UPDATE first, so that a commit of its polls
// either comes before (and is cancelled) or finds it gone.
func (s *Store) DeleteInstance(ctx context.Context, id int64) error {
	var cancelled int64
	err := s.write(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM instances WHERE id = $1 FOR UPDATE`, id).Scan(&one)
		if isNoRows(err) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		now := s.now().UnixNano()
		if _, err := tx.Exec(ctx, `UPDATE events SET status = $1 WHERE notification_id IN
				(SELECT id FROM notifications WHERE instance_id = $2 AND status IN ('PENDING', 'QUEUED'))`,
			StatusCancelled, id); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE notifications SET status = $1, next_attempt = NULL, updated_at = $2
			WHERE instance_id = $3 AND status IN ('PENDING', 'QUEUED')`, StatusCancelled, now, id)
		if err != nil {
			return err
		}
		cancelled = tag.RowsAffected()
		if _, err := tx.Exec(ctx, `DELETE FROM cursors WHERE instance_id = $1`, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM instances WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: delete instance %d: %w", id, err)
	}
	s.log.Debug("instance deleted", "instance", id, "notifications_cancelled", cancelled)
	return nil
}

func (s *Store) scanInstance(r scanner) (*engine.InstanceRecord, error) {
	var in engine.InstanceRecord
	var tags string
	var conf []byte
	var created, updated *int64
	err := r.Scan(&in.ID, &in.Name, &tags, &in.Token, &in.ElementKey, &conf, &created, &updated, &in.Disabled,
		&in.UserID, &in.OrganizationID)
	if isNoRows(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tags), &in.Tags); err != nil {
		return nil, fmt.Errorf("instance %d tags: %w", in.ID, err)
	}
	if in.Configuration, err = s.openConfiguration(in.ID, conf); err != nil {
		return nil, err
	}
	in.CreatedAt, in.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &in, nil
}

// resealClear seals the configurations still stored in clear (written without a key).
func (s *Store) resealClear(ctx context.Context) (int, error) {
	var clear int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM instances WHERE substring(configuration from 1 for 1) = '\x7b'::bytea`).
		Scan(&clear); err != nil {
		return 0, err
	}
	if clear == 0 {
		return 0, nil
	}
	return s.Reseal(ctx)
}

// Reseal seals again every instance configuration that is not sealed with the store's primary
// key (in clear, or sealed with a key being rotated out), in one transaction, and returns how
// many it sealed again. PostgreSQL keeps the rows' old versions until VACUUM reclaims their space
// (VACUUM FULL instances rewrites the table at once).
func (s *Store) Reseal(ctx context.Context) (int, error) {
	if s.sealer == nil {
		return 0, errors.New("postgres: reseal: the store has no key")
	}
	primary, _ := s.sealer.(interface{ Primary([]byte) bool })
	n := 0
	err := s.write(ctx, func(tx pgx.Tx) error {
		n = 0
		rows, err := tx.Query(ctx, `SELECT id, configuration FROM instances ORDER BY id FOR UPDATE`)
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
			if _, err := tx.Exec(ctx, `UPDATE instances SET configuration = $1 WHERE id = $2`, sealed, r.id); err != nil {
				return err
			}
		}
		n = len(stale)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: reseal: %w", err)
	}
	return n, nil
}
