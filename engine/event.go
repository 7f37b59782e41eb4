package engine

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"
)

// EventType is the kind of change an event reports.
type EventType string

// Event types, as the platform names them.
const (
	Created EventType = "CREATED"
	Updated EventType = "UPDATED"
	Deleted EventType = "DELETED"
)

// Event is one change of one vendor record.
type Event struct {
	ID         string // stable: the same change always gets the same id
	InstanceID int64
	ObjectType string
	ObjectID   string
	Type       EventType
	Date       time.Time // the record's change date, as the vendor gave it
	PollDate   time.Time
	Record     json.RawMessage
}

// EventID derives the stable id of a change from what identifies it, so that a re-poll, a retry
// or a restart produces the same id and receivers can de-duplicate on it.
func EventID(instanceID int64, objectType, objectID string, date time.Time, typ EventType) string {
	var buf [256]byte
	b := strconv.AppendInt(buf[:0], instanceID, 10)
	for _, s := range [...]string{objectType, objectID, string(typ)} {
		b = append(b, 0)
		b = append(b, s...)
	}
	b = append(b, 0)
	b = strconv.AppendInt(b, date.UnixNano(), 10)
	sum := sha256.Sum256(b)
	var out [20]byte
	base64.RawURLEncoding.Encode(out[:], sum[:15])
	return string(out[:])
}
