package freshdesk

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/kernel"
)

// appendJSON writes what encoding/json (without HTML escaping) writes, for every record shape
// the simulator serves, awkward strings included.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	s := New(Options{Seed: 3})
	s.Seed(60, 40)
	s.SeedDirectory(5, 5, 3)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		s.Mutate(rng)
	}
	s.CreateTicket(map[string]any{"subject": "quote \" back\\slash <b>&</b> \u2028 tab\t é 😀 \x01", "description": "<div>x</div>"})
	s.mu.Lock()
	var values []any
	var tickets []Ticket
	for _, id := range s.tickets.IDs() {
		tickets = append(tickets, ticketListView(s.tickets.Get(id)), ticketView(s.tickets.Get(id)))
	}
	values = append(values, tickets)
	for _, id := range s.contacts.IDs() {
		values = append(values, contactView(s.contacts.Get(id), true))
	}
	s.mu.Unlock()
	values = append(values, []any{1.5, int64(-3), nil, true, []string{}, []string(nil), map[string]any{}, time.Unix(0, 0).UTC(), []int64{1, 2}},
		map[string]string{"code": "x<y", "message": "ünïcode"}, []Ticket(nil), "\xff invalid utf-8")
	for i, v := range values {
		want, err := kernel.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var std bytes.Buffer
		enc := json.NewEncoder(&std)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		if !bytes.Equal(want, bytes.TrimSuffix(std.Bytes(), []byte("\n"))) {
			t.Fatalf("marshal differs from encoding/json")
		}
		got, err := kernel.AppendJSON(nil, v)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("value %d: %v\n got %s\nwant %s", i, err, got, want)
		}
	}
}
