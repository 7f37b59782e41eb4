package engine

import "math/bits"

// Order lanes: how delivery keeps the events of one record in order without sending an
// instance's notifications one at a time.
//
// Every record (object type, object id) falls into one of OrderLanes lanes by a stable hash, and
// every notification carries the set of lanes of the records it carries (Notification.Lanes).
// The deliverer sends a notification only when no older unsettled notification of its instance
// (in flight, or waiting for a retry) shares a lane with it, so two events about one record never
// overtake each other, across notifications and across polls, while notifications about records
// in other lanes go meanwhile. Two records sharing a lane only wait for each other: that costs
// concurrency, never order.

// OrderLanes is the number of order lanes.
const OrderLanes = 16

// LaneSet is a set of order lanes, one bit per lane. The empty set stands for every lane: a
// notification that does not say which records it carries (one stored before lanes existed)
// waits for, and holds up, every other notification of its instance.
type LaneSet uint16

// AllLanes is the set of every lane.
const AllLanes = LaneSet(1<<OrderLanes - 1)

// LaneOf returns the lane of a record: FNV-1a of its object type, a zero byte and its id, modulo
// OrderLanes. It is stored with notifications, so it must never change.
func LaneOf(objectType, objectID string) LaneSet {
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for i := 0; i < len(objectType); i++ {
		h = (h ^ uint32(objectType[i])) * prime
	}
	h *= prime // the zero byte between the two
	for i := 0; i < len(objectID); i++ {
		h = (h ^ uint32(objectID[i])) * prime
	}
	return 1 << (h % OrderLanes)
}

// Effective returns the lanes a notification holds: s, or every lane when s is empty.
func (s LaneSet) Effective() LaneSet {
	if s == 0 {
		return AllLanes
	}
	return s
}

// Len is the number of lanes in s.
func (s LaneSet) Len() int { return bits.OnesCount16(uint16(s)) }

// laneGroups is how many groups of lanes BuildNotifications splits n events of one poll into: one
// for up to 39 events (packed as they come, as few notifications as possible), then doubling
// (2, 4, 8, 16) so that each group averages at least two full notifications. Its notifications
// carry one group each, so a burst yields notifications that can be sent side by side, at the
// cost of at most one part-full notification per group.
func laneGroups(n int) int {
	g := 1
	for g < OrderLanes && n >= 2*MaxEventsPerNotification*2*g {
		g *= 2
	}
	return g
}
