package demo

import (
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/kernel"
)

// TestFakedeskFaultFlags: the fault flags of pollen fakedesk become kernel knobs scoped to
// --fault-resource; a bad value is an error naming it.
func TestFakedeskFaultFlags(t *testing.T) {
	o, err := fakedeskFaults("300ms-600ms", "1/1s", "truncated", "endless", "503,429", "tickets")
	if err != nil {
		t.Fatal(err)
	}
	tickets := kernel.Scope{Resource: "tickets"}
	if o.Latency != (kernel.Latency{Min: 300 * time.Millisecond, Max: 600 * time.Millisecond, Scope: tickets}) ||
		o.Drip != (kernel.Drip{Bytes: 1, Every: time.Second, Scope: tickets}) ||
		o.Body != (kernel.BodyFault{Kind: kernel.BodyTruncated, Scope: tickets}) ||
		o.Paging != (kernel.PagingFault{Kind: kernel.PagingEndless, Scope: tickets}) ||
		len(o.Fail.Statuses) != 2 || o.Fail.Statuses[0] != 503 || o.Fail.Scope != tickets {
		t.Errorf("knobs %+v", o)
	}
	for _, bad := range [][6]string{
		{"fast", "", "", "", "", ""},
		{"", "1", "", "", "", ""},
		{"", "", "broken", "", "", ""},
		{"", "", "", "sideways", "", ""},
		{"", "", "", "", "5xx", ""},
	} {
		if _, err := fakedeskFaults(bad[0], bad[1], bad[2], bad[3], bad[4], bad[5]); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
