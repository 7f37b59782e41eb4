package postgres

import (
	"context"
	"errors"
	"fmt"
)

// sealCheckText is what the seal check holds, sealed.
const sealCheckText = "pollen: the key every node sharing this store seals with"

// ErrOtherKey is returned by CheckSealKey for a node whose keys do not open what the store holds.
var ErrOtherKey = errors.New("the store's secrets are sealed with another key than this node's")

// CheckSealKey makes sure that this node seals secrets as the other nodes sharing the store do.
// The first node to start stores a value sealed with its key (after checking that its key opens
// the configurations already stored, if any); every node opens it at its start, and one whose
// keys cannot gets an error wrapping ErrOtherKey and the Sealer's own. A check sealed with an
// older key of the keyring (after 'pollen keys rotate') is sealed again with the primary. Without
// a Sealer there is nothing to check.
func (s *Store) CheckSealKey(ctx context.Context) error {
	if s.sealer == nil {
		return nil
	}
	var stored []byte
	err := s.pool.QueryRow(ctx, `SELECT sealed FROM cluster_seal_check WHERE id = 1`).Scan(&stored)
	switch {
	case isNoRows(err):
		// The first node: its key must open what is stored already (a store migrated from SQLite,
		// or from before this check), or it would set the wrong key as the rule.
		var conf []byte
		err := s.pool.QueryRow(ctx, `SELECT configuration FROM instances ORDER BY id LIMIT 1`).Scan(&conf)
		if err == nil {
			if _, err := s.sealer.Open(conf); err != nil {
				return fmt.Errorf("postgres: %w: %w", ErrOtherKey, err)
			}
		} else if !isNoRows(err) {
			return fmt.Errorf("postgres: seal check: %w", err)
		}
		sealed, err := s.sealer.Seal([]byte(sealCheckText))
		if err != nil {
			return fmt.Errorf("postgres: seal check: %w", err)
		}
		if _, err := s.pool.Exec(ctx, `INSERT INTO cluster_seal_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, sealed); err != nil {
			return fmt.Errorf("postgres: seal check: %w", err)
		}
		return s.CheckSealKey(ctx) // another node may have stored its own meanwhile
	case err != nil:
		return fmt.Errorf("postgres: seal check: %w", err)
	}
	plain, err := s.sealer.Open(stored)
	if err != nil {
		return fmt.Errorf("postgres: %w: %w", ErrOtherKey, err)
	}
	if string(plain) != sealCheckText {
		return fmt.Errorf("postgres: %w: the seal check holds something else", ErrOtherKey)
	}
	if p, ok := s.sealer.(interface{ Primary(sealed []byte) bool }); ok && !p.Primary(stored) {
		if sealed, err := s.sealer.Seal(plain); err == nil {
			_, err = s.pool.Exec(ctx, `UPDATE cluster_seal_check SET sealed = $1 WHERE id = 1`, sealed)
			if err != nil {
				s.log.Warn("sealing the seal check again with the primary key failed", "error", err)
			}
		}
	}
	return nil
}
