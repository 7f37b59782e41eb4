package engine

import (
	"errors"
	"time"
)

// Event statuses of their own; an event otherwise takes the final status of its notification
// (StatusDelivered NOTIFIED, StatusFailed FAILED, StatusQueued QUEUED, StatusCancelled CANCELLED).
const (
	// EventNew is an event whose notification has not been attempted yet.
	EventNew = "NEW"
	// EventDispatched is an event whose notification has been attempted and is pending: in flight
	// or waiting for a retry.
	EventDispatched = "DISPATCHED"
	// StatusCancelled is the status of a notification (and its events) whose instance was
	// deleted before it was delivered. It is kept for history and never delivered.
	StatusCancelled = "CANCELLED"
)

// EventStatuses are the statuses an event can have, in lifecycle order.
var EventStatuses = []string{EventNew, EventDispatched, string(StatusDelivered), string(StatusFailed),
	string(StatusQueued), StatusCancelled}

// EventRecord is one stored event, for the API's event history.
type EventRecord struct {
	ID             string
	InstanceID     int64
	ObjectType     string
	ObjectID       string
	EventType      string
	Date           time.Time
	PollDate       time.Time
	Status         string // one of EventStatuses
	NotificationID string // the notification that first carried it
	// Record is the vendor record the event came from, as the notification carried it.
	Record []byte
}

// NotificationRecord is one notification of the event history: what the platform's history calls
// an event, its id the notification's message.eventId.
type NotificationRecord struct {
	ID         string
	InstanceID int64
	ObjectType string
	CreatedAt  time.Time // the poll that found its events
	// Status is its events' status, one of EventStatuses.
	Status string
	// Body is the notification as it is sent, byte for byte.
	Body []byte
	// Events are its events, in the order of the body; Attempts its delivery attempts, oldest
	// first.
	Events   []EventRecord
	Attempts []Attempt
}

// ErrBadPageToken is returned for a page token the store did not hand out.
var ErrBadPageToken = errors.New("invalid page token")

// EventFilter selects events. Zero fields select everything.
type EventFilter struct {
	InstanceID int64 // 0: every instance
	// Scope limits the events to those of the instances it holds, deleted ones included.
	Scope      Scope
	Status     string // one of EventStatuses
	ObjectType string
	// Since and Until bound the poll date (when Pollen found the change): Since <= pollDate < Until.
	Since, Until time.Time
	// Limit is the page size; <= 0: no limit.
	Limit int
	// PageToken continues a listing where the previous page, of the same filter, ended.
	PageToken string
}

// QueuedNotification is a notification parked as QUEUED: after its last retry failed, or behind
// an older queued one of its instance.
type QueuedNotification struct {
	ID         string
	InstanceID int64
	ObjectType string
	CreatedAt  time.Time
	Attempts   int    // since it was last (re)queued for delivery
	LastError  string // of its last attempt; empty when it was never attempted
	EventIDs   []string
}

// RequeueFilter selects the QUEUED notifications to send again. Exactly one field must be set.
type RequeueFilter struct {
	// NotificationID selects one notification; EventID the notification that carries an event.
	// Its instance's older QUEUED notifications are requeued with it, so that the instance's
	// notifications still arrive in order.
	NotificationID string
	EventID        string
	// InstanceID selects every QUEUED notification of an instance.
	InstanceID int64
	// All selects every QUEUED notification.
	All bool
}

// ErrBadFilter is returned by Requeue for a filter that does not set exactly one field.
var ErrBadFilter = errors.New("set exactly one of notification id, event id, instance id and all")
