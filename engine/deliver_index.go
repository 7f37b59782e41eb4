package engine

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// The deliverer's index of the outbox: per instance, its oldest PENDING notifications in Seq order
// (a window of them), which it updates from each delivery's outcome instead of reading the outbox
// again. It is a cache: dropping an instance's part and reading it again from the outbox is
// always correct, and is what the deliverer does whenever it cannot tell what the outbox holds.

// pnote is a PENDING notification in the index.
type pnote struct {
	Delivery
	inflight  bool // being sent
	recording bool // answered; its attempt is being recorded
	// dropped is set when the notification left the index while it was being sent (queued behind
	// another, or its instance's part of the index was dropped): its outcome then only frees its
	// place with its callback.
	dropped bool
}

// queue is one instance's part of the index.
type queue struct {
	id    int64
	notes []*pnote // Seq order: every PENDING notification of the instance with Seq <= through
	// through is the highest Seq read for the instance.
	through int64
	// partial: the outbox may hold PENDING notifications of the instance beyond through that are
	// not in notes; they are read (readWindows) when notes run low.
	partial bool
	// barrier, when above 0, is the Seq of a notification that became QUEUED: the outbox has
	// queued every later one behind it, and holds none PENDING beyond it but those a redelivery
	// made PENDING again (they take new Seqs, after every other).
	barrier int64
	// asleep: the instance is not live (removed, disabled, no callback); nothing is held for it,
	// and its notifications are read again when it is.
	asleep bool
	listed bool // in index.active
}

// index is the deliverer's view of the outbox.
type index struct {
	queues   map[int64]*queue
	active   []*queue          // queues that may hold notifications, in turn order
	inflight map[string]*pnote // by notification id
	seen     int64             // the highest Seq read by readNew
	turn     int               // rotates which queue goes first
}

func newIndex() index {
	return index{queues: map[int64]*queue{}, inflight: map[string]*pnote{}}
}

func (x *index) queue(id int64) *queue {
	q := x.queues[id]
	if q == nil {
		q = &queue{id: id}
		x.queues[id] = q
	}
	return q
}

// list puts q in the turn order, if it is not there.
func (x *index) list(q *queue) {
	if !q.listed {
		q.listed = true
		x.active = append(x.active, q)
	}
}

// drop forgets q's notifications (those being sent are marked dropped) and marks q to be read
// again from the outbox from its start.
func (x *index) drop(q *queue) {
	for _, n := range q.notes {
		if x.inflight[n.ID] == n {
			n.dropped = true
		}
	}
	clear(q.notes)
	q.notes, q.through, q.partial = q.notes[:0], 0, true
	x.list(q)
}

// add appends a notification read from the outbox to q, in Seq order. One being sent (its
// instance's part was dropped and read again meanwhile) keeps its in-flight entry, and the
// attempt count it was sent with (unless a redelivery reset the count meanwhile): its outcome
// counts that attempt.
func (x *index) add(q *queue, dl Delivery) {
	n := x.inflight[dl.ID]
	if n != nil {
		n.dropped = false
		n.Seq = dl.Seq
		n.Attempts = min(n.Attempts, dl.Attempts)
	} else {
		n = &pnote{Delivery: dl}
	}
	q.notes = append(q.notes, n)
	q.through = dl.Seq
	x.list(q)
}

// queueFrom removes the notification with Seq seq and every later one from q: it became QUEUED,
// and the outbox queued the later ones behind it.
func (x *index) queueFrom(q *queue, seq int64) {
	i, _ := slices.BinarySearchFunc(q.notes, seq, func(n *pnote, s int64) int { return cmp.Compare(n.Seq, s) })
	for _, n := range q.notes[i:] {
		if x.inflight[n.ID] == n {
			n.dropped = true
		}
	}
	clear(q.notes[i:])
	q.notes = q.notes[:i]
	q.barrier, q.partial = seq, false
}

func (q *queue) remove(n *pnote) {
	if i := slices.Index(q.notes, n); i >= 0 {
		q.notes = slices.Delete(q.notes, i, i+1)
	}
}

// readBatch is how many notifications one read of what is new returns at most.
const readBatch = 1000

// readNew reads the PENDING notifications committed (or redelivered) since the last look and adds
// them to their instances' windows.
func (d *Deliverer) readNew(ctx context.Context) error {
	for {
		d.mu.Lock()
		after := d.idx.seen
		d.mu.Unlock()
		batch, err := d.outbox.Pending(ctx, PendingQuery{After: after, Limit: readBatch})
		if err != nil {
			return err
		}
		d.mu.Lock()
		for _, dl := range batch {
			d.idx.seen = max(d.idx.seen, dl.Seq)
			d.offer(dl)
		}
		d.mu.Unlock()
		if len(batch) < readBatch {
			return nil
		}
	}
}

// offer takes a notification readNew found into the index.
func (d *Deliverer) offer(dl Delivery) {
	q := d.idx.queue(dl.InstanceID)
	switch {
	case q.asleep || dl.Seq <= q.through:
		return // read again when the instance wakes; or already known (or settled since)
	case q.partial:
		return // read with its window
	case len(q.notes) >= d.window:
		q.partial = true
	default:
		d.take(q, dl)
	}
}

// take adds a notification read from the outbox to its instance's window. One beyond the
// instance's barrier was redelivered (nothing else is PENDING there): the barrier is gone, and a
// stop with it.
func (d *Deliverer) take(q *queue, dl Delivery) {
	if q.barrier > 0 && dl.Seq > q.barrier {
		q.barrier = 0
		if d.stops[q.id] != nil {
			d.log.Info("notifications redelivered; the instance's delivery resumes", "instance", q.id)
			delete(d.stops, q.id)
		}
	}
	d.idx.add(q, dl)
}

// readWindows reads the next notifications of the instances whose window runs low.
func (d *Deliverer) readWindows(ctx context.Context) error {
	type want struct {
		q     *queue
		after int64
		n     int
	}
	d.mu.Lock()
	var wants []want
	for _, q := range d.idx.active {
		if q.partial && !q.asleep && len(q.notes) <= d.window/2 {
			wants = append(wants, want{q, q.through, d.window - len(q.notes)})
		}
	}
	d.mu.Unlock()
	for _, w := range wants {
		batch, err := d.outbox.Pending(ctx, PendingQuery{InstanceID: w.q.id, After: w.after, Limit: w.n})
		if err != nil {
			return err
		}
		d.mu.Lock()
		if w.q.through == w.after && w.q.partial && !w.q.asleep { // nothing changed it meanwhile
			for _, dl := range batch {
				d.take(w.q, dl)
			}
			if len(batch) < w.n {
				w.q.partial = false
			}
		}
		d.mu.Unlock()
	}
	return nil
}

// checkInstances puts to sleep the instances that are no longer live, wakes those that are live
// again, and resumes the stopped instances whose callback URL changed (their QUEUED notifications
// are requeued).
func (d *Deliverer) checkInstances(ctx context.Context) error {
	var resume []int64
	d.mu.Lock()
	for _, q := range d.idx.queues {
		in, live := d.instances(q.id)
		live = live && in.CallbackURL != ""
		switch {
		case live && q.asleep:
			q.asleep = false
			d.idx.drop(q)
		case !live && !q.asleep:
			d.idx.drop(q)
			q.asleep = true
		}
	}
	for id, s := range d.stops {
		in, live := d.instances(id)
		switch {
		case !live:
		case s.url == "":
			s.url = in.CallbackURL // read back after a restart: the callback it had then
		case s.url != in.CallbackURL:
			resume = append(resume, id)
		}
	}
	d.mu.Unlock()
	for _, id := range resume {
		n, err := d.outbox.RequeueInstance(ctx, id)
		if err != nil {
			return err
		}
		d.mu.Lock()
		delete(d.stops, id)
		d.idx.queue(id).barrier = 0 // the requeued notifications come as new ones
		d.mu.Unlock()
		d.log.Info("callback URL changed after a 410; the instance's queued notifications are sent again", "instance", id, "notifications", n)
	}
	return nil
}

// applyOutcomes updates the index and the callbacks with the deliveries that were answered, and
// those whose attempts were recorded.
func (d *Deliverer) applyOutcomes() {
	d.doneMu.Lock()
	done := d.done
	d.done = nil
	d.doneMu.Unlock()
	if len(done) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range done {
		n := c.note
		q := d.idx.queue(n.InstanceID)
		if c.answered {
			d.callbackEnded(c)
			n.inflight, n.recording = false, true
			if !n.dropped {
				d.settle(q, n, c, false)
			}
			continue
		}
		delete(d.idx.inflight, n.ID)
		d.running--
		n.inflight, n.recording = false, false
		switch {
		case c.out == outUnsent:
			d.callbackEnded(c)
			if !n.dropped {
				n.Due = c.at.Add(time.Second)
			}
		case c.recordErr != nil:
			d.idx.drop(q)
		case !n.dropped:
			d.settle(q, n, c, true)
		case c.out == outQueued || c.out == outGone:
			q.barrier = max(q.barrier, n.Seq) // what is read again of the instance is older
		}
		if c.out == outGone && c.recordErr == nil {
			d.stops[n.InstanceID] = &deliveryStop{reason: stopReason, since: c.at, url: c.url}
		}
	}
}

// settle applies an attempt's outcome to its notification in the index: when the callback
// answered (a delivered notification frees its lanes, a failed one waits for its retry), then
// again, when recorded, for one read again from the outbox meanwhile, and for what only the
// record makes true in the outbox (a notification QUEUED and the later ones behind it).
func (d *Deliverer) settle(q *queue, n *pnote, c completion, recorded bool) {
	switch c.out {
	case outDelivered:
		q.remove(n)
	case outRetry:
		n.Attempts, n.Due = c.attempts+1, c.next
	case outQueued, outGone:
		if !recorded {
			return // holds its lanes until the outbox has queued it and the later ones
		}
		d.idx.queueFrom(q, n.Seq)
	}
}

// start starts the notifications that may go now: due, not in flight, sharing no lane with an
// older unsettled notification of their instance, their instance live and not stopped, and room
// with their callback and overall. Instances take turns, one notification each per round, so
// that those sharing a callback share its places.
func (d *Deliverer) start(ctx context.Context) int {
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	type ready struct {
		q     *queue
		in    *Instance
		cb    *callbackState
		notes []*pnote
	}
	var rs []ready
	x := &d.idx
	live := x.active[:0]
	for _, q := range x.active {
		if len(q.notes) == 0 && !q.partial || q.asleep {
			q.listed = false
			continue
		}
		live = append(live, q)
	}
	clear(x.active[len(live):])
	x.active = live
	if len(x.active) == 0 {
		return 0
	}
	x.turn = (x.turn + 1) % len(x.active)
	for i := range x.active {
		q := x.active[(x.turn+i)%len(x.active)]
		if len(q.notes) == 0 || d.stops[q.id] != nil {
			continue
		}
		in, ok := d.instances(q.id)
		if !ok || in.CallbackURL == "" {
			continue // put to sleep by the next look at the instances
		}
		cb := d.callback(in.CallbackURL, now)
		if !cb.mayStart(d, now) {
			continue
		}
		var notes []*pnote
		var held LaneSet
		for _, n := range q.notes {
			l := n.Lanes.Effective()
			if !n.inflight && !n.recording && held&l == 0 && !n.Due.After(now) {
				notes = append(notes, n)
			}
			if held |= l; held == AllLanes {
				break
			}
		}
		if len(notes) > 0 {
			rs = append(rs, ready{q, in, cb, notes})
		}
	}
	started := 0
	for progress := true; progress && d.running < d.workers; {
		progress = false
		for i := range rs {
			r := &rs[i]
			if len(r.notes) == 0 || !r.cb.admit(d, r.notes[0].ID, now) {
				continue
			}
			n := r.notes[0]
			r.notes = r.notes[1:]
			n.inflight = true
			x.inflight[n.ID] = n
			d.running++
			started++
			progress = true
			d.wg.Add(1)
			d.doneMu.Lock()
			d.sending[n.InstanceID]++
			d.doneMu.Unlock()
			go d.send(ctx, r.in, n, n.Delivery)
			if d.running >= d.workers {
				break
			}
		}
	}
	return started
}
