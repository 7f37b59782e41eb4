package main

import (
	"slices"
	"time"
)

// Failover: when a node is killed, the accounts it polled go unpolled until another node takes
// their leases over. The simulator notes each account's pages; from the kill on, an account
// whose first page came later than its schedule (its last page before the kill plus the interval,
// with a second's slack) was one of the killed node's, and its failover time is from the kill to
// that first page.

// notePage notes a page request of the account.
func (f *deskFarm) notePage(a *benchAccount) {
	now := time.Now().UnixNano()
	a.lastPage.Store(now)
	if mark := f.killMark.Load(); mark != 0 && now > mark {
		a.firstAfter.CompareAndSwap(0, now)
	}
}

// markKill notes the moment of a kill: each account's last page before it, and from now on its
// first page after it.
func (f *deskFarm) markKill(at time.Time) {
	for _, a := range f.accounts {
		a.lastBefore = a.lastPage.Load()
		a.firstAfter.Store(0)
	}
	f.killMark.Store(at.UnixNano())
}

// failoverReport is what the kill did to the accounts.
type failoverReport struct {
	late     int             // accounts polled later than their schedule after the kill
	takeover []time.Duration // for each of those: from the kill to its first page; sorted
	waiting  int             // accounts not polled at all since the kill
}

// failover reads the accounts' pages since markKill.
func (f *deskFarm) failover(interval time.Duration) failoverReport {
	var r failoverReport
	mark := f.killMark.Load()
	for _, a := range f.accounts {
		first := a.firstAfter.Load()
		if first == 0 {
			r.waiting++
			continue
		}
		due := a.lastBefore + int64(interval) + int64(time.Second)
		if a.lastBefore == 0 || first > due {
			r.late++
			r.takeover = append(r.takeover, time.Duration(first-mark))
		}
	}
	slices.Sort(r.takeover)
	return r
}
