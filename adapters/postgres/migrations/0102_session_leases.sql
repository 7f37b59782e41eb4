-- 0102: session leases (leases.go). A node's heartbeat (cluster_nodes.expires) now carries the
-- expiry of every lease it holds: a lease is valid while it names a node (not released) whose
-- heartbeat is unexpired, so that a node renews all its leases with one row per beat instead of
-- one row per vendor account. The leases' own expiry goes: a node of an earlier version, which
-- would still read and renew it, fails at once on this schema instead of taking leases that are
-- held.
ALTER TABLE cluster_leases DROP COLUMN expires;
