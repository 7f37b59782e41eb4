package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hashicorp/go-hclog"
)

// migrations[i] takes the schema from version i to version i+1. The version lives in
// PRAGMA user_version. Append only: never edit a migration that has shipped.
var migrations = []string{
	// 1: instances, cursors, events, notifications (the outbox) and delivery attempts.
	// Times are INTEGER unix nanoseconds (UTC); NULL is the zero time.
	`
CREATE TABLE instances (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	name          TEXT    NOT NULL,
	tags          TEXT    NOT NULL DEFAULT '[]',  -- JSON array of strings
	token         TEXT    NOT NULL DEFAULT '',
	element_key   TEXT    NOT NULL,
	configuration TEXT    NOT NULL DEFAULT '{}',  -- JSON object, as the client sent it
	created_at    INTEGER,
	updated_at    INTEGER,
	disabled      INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX instances_token ON instances(token) WHERE token <> '';

CREATE TABLE cursors (
	instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
	object_type TEXT    NOT NULL,
	cursor      TEXT    NOT NULL,                 -- JSON engine.Cursor
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (instance_id, object_type)
) WITHOUT ROWID;

CREATE TABLE events (
	seq             INTEGER PRIMARY KEY AUTOINCREMENT,
	id              TEXT    NOT NULL UNIQUE CHECK (id <> ''),
	instance_id     INTEGER NOT NULL,
	object_type     TEXT    NOT NULL,
	object_id       TEXT    NOT NULL,
	event_type      TEXT    NOT NULL,
	date            INTEGER,
	poll_date       INTEGER,
	record          BLOB,
	status          TEXT    NOT NULL,
	notification_id TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX events_instance ON events(instance_id, seq);
CREATE INDEX events_notification ON events(notification_id);

CREATE TABLE notifications (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	id           TEXT    NOT NULL UNIQUE CHECK (id <> ''),
	instance_id  INTEGER NOT NULL,
	object_type  TEXT    NOT NULL,
	event_ids    TEXT    NOT NULL,                -- JSON array, in body order
	created_at   INTEGER,
	body         BLOB    NOT NULL,                -- exactly the bytes to sign and send
	status       TEXT    NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER,                         -- NULL once settled
	last_error   TEXT    NOT NULL DEFAULT '',
	updated_at   INTEGER
);
CREATE INDEX notifications_pending ON notifications(instance_id, seq) WHERE status = 'PENDING';

CREATE TABLE attempts (
	seq             INTEGER PRIMARY KEY AUTOINCREMENT,
	notification_id TEXT    NOT NULL,
	at              INTEGER,
	http_status     INTEGER NOT NULL,
	error           TEXT    NOT NULL,
	status          TEXT    NOT NULL,
	next_attempt    INTEGER
);
CREATE INDEX attempts_notification ON attempts(notification_id, seq);
`,
	// 2: durable delivery. Events get their own statuses (NEW, DISPATCHED, then the final status
	// of their notification); notifications queue behind a QUEUED one of their instance; indexes
	// for the queue and the history's status filter.
	`
CREATE INDEX notifications_queued ON notifications(instance_id, seq) WHERE status = 'QUEUED';
CREATE INDEX events_status ON events(status, seq);

-- Events were PENDING until their notification settled.
UPDATE events SET status = CASE
		WHEN EXISTS (SELECT 1 FROM attempts AS a WHERE a.notification_id = events.notification_id) THEN 'DISPATCHED'
		ELSE 'NEW' END
	WHERE status = 'PENDING';

-- Queued notifications of deleted instances could never be sent again: cancel them, as deleting
-- an instance now does.
UPDATE events SET status = 'CANCELLED' WHERE notification_id IN
	(SELECT id FROM notifications WHERE status IN ('PENDING', 'QUEUED') AND instance_id NOT IN (SELECT id FROM instances));
UPDATE notifications SET status = 'CANCELLED', next_attempt = NULL
	WHERE status IN ('PENDING', 'QUEUED') AND instance_id NOT IN (SELECT id FROM instances);

-- Pending notifications queue behind an older QUEUED one of their instance.
UPDATE events SET status = 'QUEUED' WHERE notification_id IN
	(SELECT n.id FROM notifications AS n WHERE n.status = 'PENDING' AND EXISTS
		(SELECT 1 FROM notifications AS q WHERE q.instance_id = n.instance_id AND q.status = 'QUEUED' AND q.seq < n.seq));
UPDATE notifications SET status = 'QUEUED', next_attempt = NULL
	WHERE status = 'PENDING' AND EXISTS (SELECT 1 FROM notifications AS q
		WHERE q.instance_id = notifications.instance_id AND q.status = 'QUEUED' AND q.seq < notifications.seq);
`,
	// 3: tenants. Organizations and users (secrets as digests only), and who owns each instance:
	// kept after the instance is deleted, so that its event history stays its owner's. Instances
	// stored before belong to organization 1 and its user 1, the bootstrap admin, whose secrets
	// are set at the next start. Configurations are sealed by Go code at open (Store.Open).
	`
CREATE TABLE organizations (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	name          TEXT    NOT NULL UNIQUE,
	secret_digest BLOB    UNIQUE,                 -- NULL: no secret yet
	created_at    INTEGER
);
CREATE TABLE users (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	organization_id INTEGER NOT NULL REFERENCES organizations(id),
	email           TEXT    NOT NULL UNIQUE,
	first_name      TEXT    NOT NULL DEFAULT '',
	last_name       TEXT    NOT NULL DEFAULT '',
	role            TEXT    NOT NULL,
	active          INTEGER NOT NULL DEFAULT 1,
	secret_digest   BLOB    UNIQUE,               -- NULL: no secret yet
	created_at      INTEGER,
	updated_at      INTEGER
);
CREATE INDEX users_organization ON users(organization_id, id);
CREATE TABLE instance_owners (
	instance_id     INTEGER PRIMARY KEY,
	user_id         INTEGER NOT NULL,
	organization_id INTEGER NOT NULL
);
CREATE INDEX instance_owners_owner ON instance_owners(organization_id, user_id);
INSERT INTO organizations (id, name) VALUES (1, 'default');
INSERT INTO users (id, organization_id, email, role) VALUES (1, 1, 'admin', 'org-admin');
INSERT INTO instance_owners (instance_id, user_id, organization_id) SELECT id, 1, 1 FROM instances;
`,
	// 4: per-record order in delivery. A notification's order lanes (engine.LaneSet, a bitmask;
	// 0, as for the notifications stored before, stands for every lane: they keep going one at a
	// time per instance); and the PENDING notifications in outbox order, for the deliverer's reads
	// of what is new.
	`
ALTER TABLE notifications ADD COLUMN lanes INTEGER NOT NULL DEFAULT 0;
CREATE INDEX notifications_pending_seq ON notifications(seq) WHERE status = 'PENDING';
`,
}

// schemaVersion is the schema version this package writes.
var schemaVersion = len(migrations)

// migrate brings the database to schemaVersion in one transaction.
func migrate(ctx context.Context, db *sql.DB, log hclog.Logger) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return err
	}
	switch {
	case v == schemaVersion:
		return nil
	case v > schemaVersion:
		return fmt.Errorf("schema version %d is newer than this build supports (%d)", v, schemaVersion)
	}
	for i := v; i < schemaVersion; i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migration to version %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	log.Info("store schema migrated", "from", v, "to", schemaVersion)
	return nil
}
