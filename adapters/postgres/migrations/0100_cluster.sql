-- 0100: several nodes sharing the store (engine.Cluster, leases.go, notify.go). Numbered apart
-- from the store's own migrations (0001, 0002, ...), which it follows whatever their count.
-- Times here are timestamptz of the database's clock: every expiry is reckoned by it, so that
-- nodes' clocks need not agree.

-- Each node's heartbeat: what its definitions can poll ("element/resource"), and until when it is
-- taken for alive.
CREATE TABLE cluster_nodes (
	name       text        PRIMARY KEY,
	resources  text[]      NOT NULL DEFAULT '{}',
	started_at timestamptz NOT NULL DEFAULT now(),
	expires    timestamptz NOT NULL
);

-- One lease per vendor account (an instance's base URL, lower case, without a trailing slash):
-- held by node ('' = free) until expires, with a fencing token that grows at each acquisition and
-- is never reused. Commits and delivery attempts under a lease check its row FOR SHARE.
CREATE TABLE cluster_leases (
	account     text        PRIMARY KEY,
	node        text        NOT NULL DEFAULT '',
	token       bigint      NOT NULL DEFAULT 0,
	expires     timestamptz NOT NULL DEFAULT '-infinity',
	acquired_at timestamptz
);
CREATE INDEX cluster_leases_node ON cluster_leases(node);
