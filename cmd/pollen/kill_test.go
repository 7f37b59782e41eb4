package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
)

// TestKillNineLosesNothing: the real binary is SIGKILLed three times while tickets and contacts
// change, and changed more while it is down; restarted on the same data directory each time, it
// catches up. Every change arrives: each record's final state; each record created after the
// instance one CREATED (after de-duplication by eventId, as receivers do); deletions. A
// notification sent but not yet recorded when the process died is sent again after the restart,
// with the same eventIds: at-least-once, and the test reports how many such duplicates occurred
// (copies must be identical events; see rig.Receiver.Received).
func TestKillNineLosesNothing(t *testing.T) {
	killNine(t, rig.ProcessOptions{})
}

// TestKillNineLosesNothingOnPostgres: the same, with the state in PostgreSQL (--store).
func TestKillNineLosesNothingOnPostgres(t *testing.T) {
	killNine(t, rig.ProcessOptions{Args: []string{"--store", pgtest.URL(t)}})
}

func killNine(t *testing.T, opts rig.ProcessOptions) {
	world := rig.NewWorld(t, rig.FreshdeskOptions{})
	w := newDLWorld(t, world.Desk, 3)
	rcv := world.Recv
	// A receiver that takes 100 ms to answer widens the window in which a kill finds a
	// notification handled by the receiver but not yet recorded as delivered by Pollen.
	rcv.SetDelay(100 * time.Millisecond)
	p := rig.StartProcess(t, opts)
	id := world.CreateInstance(p.API, nil)

	step, deletions := 0, 0
	change := func(n int, polled bool) {
		for range n {
			w.step(step)
			step++
			if polled && step%2 == 0 { // two changes to each poll, so that records change again
				p.API.Polled(id, time.Now())
			}
		}
	}
	const rounds = 3
	for round := range rounds {
		// Changes while pollen polls and delivers; the kill comes right after a poll that found
		// some of them, while their notifications are being sent.
		change(6+2*round, true)
		p.Kill()
		change(4, false) // while it is down
		if w.deleteOld() {
			deletions++
		}
		p.Start()
	}
	change(4, true)

	// A notification whose sender died mid-body is refused as unreadable (and sent again after
	// the restart); a bad signature is never excused.
	const cutOff = "notification rejected by the receiver: reading the body"
	var dups, cut int
	probs := dlSettle(t, p.API, id, func() []string {
		evs, d, probs := rcv.Received()
		dups, cut = d, 0
		probs = slices.DeleteFunc(probs, func(p string) bool {
			if strings.HasPrefix(p, cutOff) {
				cut++
				return true
			}
			return false
		})
		return append(probs, w.problems(evs)...)
	})
	for _, msg := range probs {
		t.Error(msg)
	}
	evs, _, _ := rcv.Received()
	t.Logf("instance %d: %d changes and %d deletions over %d kills; %d notifications accepted (%d cut off by a kill), %d distinct events, %d duplicate deliveries (same eventId, identical)",
		id, step, deletions, rounds, len(rcv.Accepted()), cut, len(evs), dups)
}
