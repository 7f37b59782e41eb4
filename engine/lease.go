package engine

import (
	"context"
	"errors"
	"time"
)

// Several nodes (pollen serve processes) may share one store. Each vendor account's jobs are then
// polled, and its instances' notifications delivered, by one node at a time: the node holding the
// account's lease. Leases are session leases: a node's heartbeat carries an expiry, and an
// account's lease (its holder and a fencing token that grows each time the lease is taken) is
// valid while its holder's heartbeat is unexpired and the lease not released. So a node renews
// every lease it holds with one write per beat, however many accounts it holds, and a node that
// dies loses them all at once when its heartbeat expires. Every write the holder makes for the
// account (a poll's commit, a delivery attempt) carries the token it holds (a Fence), and the
// store refuses it, in the write's own transaction, when the lease has moved on or its holder's
// heartbeat has expired: a node that was paused past its heartbeat and wakes up cannot write over
// the new holder.

// Fence is the lease a write is made under: the vendor account's lease, held by Node with Token.
// A Store that shares its data with other nodes checks it in the write's transaction and refuses
// the write with ErrFenced when the lease is no longer held with that token, or its node's
// heartbeat has expired.
type Fence struct {
	Account string
	Node    string
	Token   int64
}

// ErrFenced is returned by a Store or an Outbox for a write whose Fence no longer holds: the
// account's lease expired or moved to another node. Nothing was written. The poller treats it as
// a lost lease: the job stops here and goes on, from its committed cursor, on the lease's holder.
var ErrFenced = errors.New("fenced: this node's lease on the vendor account has moved on or expired")

// Lease is a vendor account's lease as a Leases store holds it.
type Lease struct {
	Account string
	Node    string
	Token   int64
	// Expires is when the lease lapses unless its node beats again: its node's heartbeat's
	// expiry, as read with the lease (by the lease store's clock).
	Expires time.Time
}

// Fence returns the fence of writes made under the lease.
func (l Lease) Fence() *Fence { return &Fence{Account: l.Account, Node: l.Node, Token: l.Token} }

// NodeInfo is a node as its heartbeat advertises it.
type NodeInfo struct {
	Name string
	// Resources are what the node's definitions can poll, as "element/resource", sorted: an
	// account is leased only to a node that has every resource its instances use, when one has.
	Resources []string
	// Expires is when the node is taken for dead unless it beats again (the store's clock).
	Expires time.Time
}

// Leases keeps the nodes of a cluster and the vendor accounts' leases. Expiries are reckoned by
// the store's own clock, from the ttl each heartbeat gives, so that nodes' clocks need not agree.
// A lease is valid while it is not released and its node's heartbeat is unexpired.
// adapters/postgres implements it; MemLeases is an in-memory one for tests.
type Leases interface {
	// Heartbeat records the node as alive for ttl, with what it advertises, which renews every
	// lease it holds, and returns the nodes alive now (itself included), sorted by name.
	Heartbeat(ctx context.Context, n NodeInfo, ttl time.Duration) ([]NodeInfo, error)
	// Leave forgets a node at a clean shutdown, so that the others rebalance at once: the
	// leases it still holds lapse with it.
	Leave(ctx context.Context, node string) error
	// Acquire takes an account's lease for the node when no one holds it: it was never taken,
	// was released, or its holder's heartbeat has expired (or the holder is the node itself).
	// The node's own heartbeat must be unexpired. A taken lease has a token greater than every
	// token the account's lease had before; of nodes acquiring at once, one wins. ok is false
	// when another node holds it.
	Acquire(ctx context.Context, account, node string) (l Lease, ok bool, err error)
	// Release gives a lease up, when it is still held with its token.
	Release(ctx context.Context, l Lease) error
	// Holders returns the valid leases (their nodes alive), by account.
	Holders(ctx context.Context) ([]Lease, error)
}

// Notice tells the nodes of a cluster that an instance changed through one of them: each reads
// it again from the store and applies it (or, for Skip, lets the job read past a record).
type Notice struct {
	Instance int64  `json:"instance"`
	Node     string `json:"node,omitempty"` // the node it came from
	// Skip, when set, is an operator's skip of a held record (Runtime.SkipRecord), for the node
	// that polls the job.
	Skip *SkipNotice `json:"skip,omitempty"`
}

// SkipNotice is a held record an operator skipped.
type SkipNotice struct {
	ObjectType string `json:"objectType"`
	Record     string `json:"record"`
}

// Notices carries Notices between the nodes sharing a store (PostgreSQL's LISTEN/NOTIFY).
// Delivery is best effort: a node that misses one catches up at its next re-read of every
// instance.
type Notices interface {
	// Notify sends a notice to every node listening, the sender included.
	Notify(ctx context.Context, n Notice) error
	// Listen calls f with every notice until ctx ends or the connection fails. ready is called
	// once the node listens, before the first notice: what changed earlier must be read again.
	Listen(ctx context.Context, ready func(), f func(Notice)) error
}
