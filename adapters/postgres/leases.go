package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pollen-hq/pollen/engine"
)

// Several nodes on one store: the Store is also an engine.Leases (this file) and an
// engine.Notices (notify.go). Nodes beat in cluster_nodes, whose expiry is that of every lease the
// node holds (session leases): each vendor account's lease is a row of cluster_leases (account,
// node, token) and is valid while its node ('' once released) has an unexpired heartbeat. So a
// node renews all its leases by updating its one row of cluster_nodes, whatever their number.
// A lease is taken by a conditional UPSERT (never taken, released, its node's heartbeat expired,
// or already the node's), so that of two nodes acquiring at once exactly one wins: the second
// waits for the first's row lock and then finds the row held. Every expiry is the database's
// clock_timestamp() plus the caller's ttl, so that the nodes' clocks need not agree.
//
// Fencing. CommitPoll and RecordAttempt check the write's engine.Fence in their own transaction
// (checkFence): the lease row must still name the node and the token, and that node's heartbeat
// must be unexpired; the lease row is read FOR SHARE, so that no acquisition or release of the
// lease commits while the write is under way (a heartbeat expiring meanwhile lets no one take
// the lease before the write commits). A write whose lease has moved on writes nothing and
// returns engine.ErrFenced.

// ms is a duration as whole milliseconds, for intervals in SQL ($n * interval '1 millisecond').
func ms(d time.Duration) int64 { return d.Milliseconds() }

// Heartbeat implements engine.Leases: it renews every lease the node holds. Nodes dead for an
// hour are forgotten (their leases, if any, stay lapsed).
func (s *Store) Heartbeat(ctx context.Context, n engine.NodeInfo, ttl time.Duration) ([]engine.NodeInfo, error) {
	res := n.Resources
	if res == nil {
		res = []string{}
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO cluster_nodes AS c (name, resources, expires) VALUES ($1, $2, clock_timestamp() + $3 * interval '1 millisecond')
		ON CONFLICT (name) DO UPDATE SET resources = EXCLUDED.resources, expires = EXCLUDED.expires`, n.Name, res, ms(ttl))
	b.Queue(`DELETE FROM cluster_nodes WHERE expires < clock_timestamp() - interval '1 hour'`)
	b.Queue(`SELECT name, resources, expires FROM cluster_nodes WHERE expires > clock_timestamp() ORDER BY name`)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	for range 2 {
		if _, err := br.Exec(); err != nil {
			return nil, fmt.Errorf("postgres: heartbeat: %w", err)
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("postgres: heartbeat: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (engine.NodeInfo, error) {
		var x engine.NodeInfo
		err := r.Scan(&x.Name, &x.Resources, &x.Expires)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: heartbeat: %w", err)
	}
	return out, br.Close()
}

// Leave implements engine.Leases.
func (s *Store) Leave(ctx context.Context, node string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM cluster_nodes WHERE name = $1`, node); err != nil {
		return fmt.Errorf("postgres: leave: %w", err)
	}
	return nil
}

// Acquire implements engine.Leases.
func (s *Store) Acquire(ctx context.Context, account, node string) (engine.Lease, bool, error) {
	l := engine.Lease{Account: account, Node: node}
	err := s.pool.QueryRow(ctx, `WITH me AS (
			SELECT expires FROM cluster_nodes WHERE name = $2 AND expires > clock_timestamp()
		)
		INSERT INTO cluster_leases AS l (account, node, token, acquired_at)
		SELECT $1, $2, 1, clock_timestamp() FROM me
		ON CONFLICT (account) DO UPDATE SET node = EXCLUDED.node, token = l.token + 1, acquired_at = EXCLUDED.acquired_at
		WHERE l.node = '' OR l.node = EXCLUDED.node
			OR NOT EXISTS (SELECT 1 FROM cluster_nodes n WHERE n.name = l.node AND n.expires > clock_timestamp())
		RETURNING token, (SELECT expires FROM me)`, account, node).Scan(&l.Token, &l.Expires)
	if isNoRows(err) {
		return engine.Lease{}, false, nil
	}
	if err != nil {
		return engine.Lease{}, false, fmt.Errorf("postgres: acquire lease of %s: %w", account, err)
	}
	return l, true, nil
}

// Release implements engine.Leases. The token stays, so that the next holder's is greater.
func (s *Store) Release(ctx context.Context, l engine.Lease) error {
	_, err := s.pool.Exec(ctx, `UPDATE cluster_leases SET node = ''
		WHERE account = $1 AND node = $2 AND token = $3`, l.Account, l.Node, l.Token)
	if err != nil {
		return fmt.Errorf("postgres: release lease of %s: %w", l.Account, err)
	}
	return nil
}

// Holders implements engine.Leases: the leases whose node's heartbeat is unexpired, each with
// that expiry.
func (s *Store) Holders(ctx context.Context) ([]engine.Lease, error) {
	rows, err := s.pool.Query(ctx, `SELECT l.account, l.node, l.token, n.expires
		FROM cluster_leases l JOIN cluster_nodes n ON n.name = l.node
		WHERE n.expires > clock_timestamp() ORDER BY l.account`)
	if err != nil {
		return nil, fmt.Errorf("postgres: leases: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanLease)
	if err != nil {
		return nil, fmt.Errorf("postgres: leases: %w", err)
	}
	return out, nil
}

func scanLease(r pgx.CollectableRow) (engine.Lease, error) {
	var l engine.Lease
	err := r.Scan(&l.Account, &l.Node, &l.Token, &l.Expires)
	return l, err
}

// checkFence is the fencing check of a write under a lease, in the write's transaction: nil
// when the fence is nil or its lease is still held with its token by a node whose heartbeat is
// unexpired, in which case the lease row stays locked FOR SHARE until the write commits;
// engine.ErrFenced otherwise.
func checkFence(ctx context.Context, tx pgx.Tx, f *engine.Fence) error {
	if f == nil {
		return nil
	}
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM cluster_leases l JOIN cluster_nodes n ON n.name = l.node
		WHERE l.account = $1 AND l.node = $2 AND l.token = $3 AND n.expires > clock_timestamp() FOR SHARE OF l`,
		f.Account, f.Node, f.Token).Scan(&one)
	if isNoRows(err) {
		return fmt.Errorf("lease of %s, token %d, held by %s: %w", f.Account, f.Token, f.Node, engine.ErrFenced)
	}
	return err
}

// checkFences checks the fences of a group of attempts, each distinct fence once: the error of
// each attempt whose fence no longer holds (engine.ErrFenced), nil for the others.
func checkFences(ctx context.Context, tx pgx.Tx, batch []*attemptReq) ([]error, error) {
	out := make([]error, len(batch))
	checked := map[engine.Fence]error{}
	for i, r := range batch {
		f := r.a.Fence
		if f == nil {
			continue
		}
		err, ok := checked[*f]
		if !ok {
			err = checkFence(ctx, tx, f)
			if err != nil && !errors.Is(err, engine.ErrFenced) {
				return nil, err
			}
			checked[*f] = err
		}
		out[i] = err
	}
	return out, nil
}

var _ engine.Leases = (*Store)(nil)
