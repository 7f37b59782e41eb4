package demo_test

import (
	"bytes"
	"context"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/cmd/internal/demo"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
)

// The demo tells one story: every record it changes at the vendor (a 'vendor' line naming, after
// =>, the event it must bring) is one its instance polls, and that record's event then arrives,
// signature checked. Each element, with the instance's own interval.
func TestDemoStory(t *testing.T) {
	for _, element := range []string{"freshdeskv2", "zendesk"} {
		t.Run(element, func(t *testing.T) {
			out := &lockedBuffer{}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			defer func() {
				if t.Failed() {
					t.Logf("demo output:\n%s", out.String())
				}
			}()
			go func() {
				done <- demo.Run(ctx, demo.Config{Element: element, ChangeEvery: 300 * time.Millisecond, Seed: 3}, hclog.NewNullLogger(), out)
			}()
			vendor := regexp.MustCompile(`(?m)^vendor .* => ((CREATED|UPDATED|DELETED) (\w+) (\d+)(, )?)+$`)
			brings := regexp.MustCompile(`(CREATED|UPDATED|DELETED) (\w+) (\d+)`)
			event := regexp.MustCompile(`(?m)^event +\S+ +(CREATED|UPDATED|DELETED) +(\w+) +#(\d+) .*signature ok`)
			// Until the first six changes have been made and every record they changed has had an
			// event since.
			var missing []string
			t.Cleanup(cancel) // Run returns once ctx ends: the servers stop before the test does
			rig.Until(t, "the first six changes' events", func() bool {
				text := out.String()
				changes := vendor.FindAllStringIndex(text, -1)
				changes = changes[:min(len(changes), 6)]
				missing = missing[:0]
				for _, c := range changes {
					for _, b := range brings.FindAllStringSubmatch(text[c[0]:c[1]], -1) {
						record := b[2] + " " + b[3]
						arrived := false
						for _, e := range event.FindAllStringSubmatch(text[c[1]:], -1) {
							arrived = arrived || e[2]+" "+e[3] == record
						}
						if !arrived {
							missing = append(missing, record)
						}
					}
				}
				return len(changes) >= 6 && len(missing) == 0
			})
			cancel()
			if err := <-done; err != nil {
				t.Errorf("demo: %v", err)
			}
			text := out.String()
			if regexp.MustCompile(`(?m)^REJECTED`).MatchString(text) || !regexp.MustCompile(`stopped: \d+ changes at the vendor, \d+ events received, 0 rejected`).MatchString(text) {
				t.Errorf("the demo's receiver rejected notifications, or did not sum up:\n%s", text)
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
