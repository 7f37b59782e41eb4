package postgres

import "github.com/pollen-hq/pollen/engine"

// The store's types are the engine's; these names keep the package's own code short.
type (
	// EventRecord is engine.EventRecord.
	EventRecord = engine.EventRecord
	// EventFilter is engine.EventFilter.
	EventFilter = engine.EventFilter
	// QueuedNotification is engine.QueuedNotification.
	QueuedNotification = engine.QueuedNotification
	// RequeueFilter is engine.RequeueFilter.
	RequeueFilter = engine.RequeueFilter
)

// Errors, as the engine names them.
var (
	// ErrNotFound is engine.ErrNotFound: an instance, user, organization, event or notification
	// that does not exist.
	ErrNotFound = engine.ErrNotFound
	// ErrBadPageToken is engine.ErrBadPageToken.
	ErrBadPageToken = engine.ErrBadPageToken
	// ErrBadFilter is engine.ErrBadFilter.
	ErrBadFilter = engine.ErrBadFilter
)

// Statuses, as the engine names them.
const (
	StatusCancelled = engine.StatusCancelled // a notification whose instance was deleted
	EventNew        = engine.EventNew
	EventDispatched = engine.EventDispatched
)

// EventStatuses is engine.EventStatuses.
var EventStatuses = engine.EventStatuses
