-- 0101: a value sealed with the key of the first node that started on the store (sealcheck.go),
-- so that a node given another key is refused at its start instead of sealing configurations
-- the others cannot open.
CREATE TABLE cluster_seal_check (
	id         int         PRIMARY KEY CHECK (id = 1),
	sealed     bytea       NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
