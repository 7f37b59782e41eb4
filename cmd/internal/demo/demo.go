// Package demo runs Pollen's simulated vendors for people: pollen demo (a simulated vendor, a
// Pollen server and a signature-checking receiver, all in this process) and pollen fakedesk (a
// simulated vendor alone, with its fault knobs as flags). The simulators themselves are
// adapters/sim/...; this package chooses, seeds, drives and serves them.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tidwall/gjson"

	"github.com/pollen-hq/pollen/adapters/sim/freshdesk"
	"github.com/pollen-hq/pollen/adapters/sim/kernel"
	"github.com/pollen-hq/pollen/adapters/sim/zendesk"
	"github.com/pollen-hq/pollen/adapters/webhook"
	"github.com/pollen-hq/pollen/cmd/internal/cli"
	"github.com/pollen-hq/pollen/cmd/internal/server"
	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/tenants"
)

const demoDoc = `Demo shows Pollen working end to end on this machine, with no account and
nothing to install. It starts a simulated Freshdesk with sample tickets and
contacts, a Pollen server, and a receiver that checks every notification's
signature; creates an instance from the Cloud Elements documentation's example
body (seed 000), pointed at the simulator and the receiver; then keeps creating,
updating and deleting what that instance polls: tickets and contacts. Each change
is printed as the vendor makes it, with the event it must bring (=> UPDATED
incidents 41), and each event as the receiver gets it, with how long after its
change it came. Ctrl-C stops everything and sums up. --element zendesk does the
same with a simulated Zendesk (tickets, users and organizations).`

// Config is what pollen demo runs.
type Config struct {
	Element     string        // the element to simulate: freshdeskv2 or zendesk
	Interval    string        // the instance's event.poller.refresh_interval, in minutes; "" = the element's demo default
	ChangeEvery time.Duration // how often the simulated vendor changes a record
	Seed        uint64        // of the sample data and of the changes
	DataDir     string        // Pollen's state; "" = a temporary directory, removed at the end
}

// RunDemo is pollen demo; it returns the exit code.
func RunDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlags("pollen demo", "[flags]", demoDoc, stderr)
	var dc Config
	var duration time.Duration
	fs.DurationVar(&duration, "duration", 0, "stop after this long (0: run until interrupted)")
	fs.StringVar(&dc.Interval, "interval", "", "the instance's event.poller.refresh_interval, in `minutes` (default 0.05; zendesk 0.1)")
	fs.DurationVar(&dc.ChangeEvery, "change-every", 2*time.Second, "how often the simulated vendor changes a record")
	fs.Uint64Var(&dc.Seed, "seed", 1, "seed of the sample data and of the changes")
	fs.StringVar(&dc.DataDir, "data-dir", "", "`directory` for Pollen's state (default: a temporary one, removed at exit)")
	fs.StringVar(&dc.Element, "element", "freshdeskv2", "the `element` to simulate: freshdeskv2 or zendesk")
	var lf cli.LogFlags
	lf.Register(fs, "warn")
	if code, ok := cli.ParseFlags(fs, args); !ok {
		return code
	}
	log, err := lf.Logger("pollen", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "pollen demo: %v\n", err)
		return cli.ExitUsage
	}
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	if err := Run(ctx, dc, log, stdout); err != nil {
		fmt.Fprintf(stderr, "pollen demo: %v\n", err)
		return cli.ExitFail
	}
	return cli.ExitOK
}

// Run runs the demonstration until ctx ends, printing on stdout.
func Run(ctx context.Context, dc Config, log hclog.Logger, stdout io.Writer) error {
	out := &story{w: stdout, pending: map[string]time.Time{}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The simulated vendor, with sample data created before the instance: none of it may
	// produce an event.
	sim, err := newDemoVendor(dc.Element, dc.Seed, log)
	if err != nil {
		return err
	}
	if dc.Interval == "" {
		dc.Interval = sim.interval
	}
	deskURL, err := cli.ServeLocal(ctx, sim)
	if err != nil {
		return err
	}

	// The receiver checks every signature and prints every event.
	const signatureKey = "demo-signature-key"
	rc := &webhook.Receiver{
		Key: signatureKey,
		Handle: func(n *webhook.Notification, _ []byte) {
			recs := n.Message.Records()
			for i, e := range n.Message.Events {
				var rec []byte
				if i < len(recs) {
					rec = recs[i]
				}
				out.event(e, rec)
			}
		},
		Rejected: out.rejected,
	}
	recvURL, err := cli.ServeLocal(ctx, rc)
	if err != nil {
		return err
	}

	// Pollen itself, exactly as `pollen serve` builds it.
	dataDir, cleanup, err := cli.StateDir(dc.DataDir, "pollen-demo-")
	if err != nil {
		return err
	}
	defer cleanup()
	// The simulator and the receiver are on loopback: the demo opens the egress policy to them.
	user, org := tenants.NewSecret(), tenants.NewSecret()
	srv, err := server.New(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: dataDir,
		UserSecret: user, OrgSecret: org, Logger: log,
		AllowPrivateNetworks: true, MinInterval: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	out.printf("Pollen demo: a simulated %s, a Pollen server and a signature-checking receiver, all on this machine.\n", sim.name)
	out.printf("  simulated %-10s %s  (sample records created before the instance: no events for them)\n", sim.name, deskURL)
	out.printf("  Pollen API           %s\n", srv.URL())
	out.printf("  Pollen console       %s\n", srv.SignInLink(24*time.Hour))
	out.printf("                       (open it in a browser: it signs you in, once)\n")
	out.printf("  receiver             %s\n", recvURL)
	out.printf("To poll the simulator from the console's New instance form:\n")
	out.printf("  %s\n", sim.signIn)
	out.printf("  Events Enabled on · Event poller refresh interval (mins) %s\n", dc.Interval)
	out.printf("  Event Notification Callback URL %s · Event Notification Signature Key %s\n", recvURL, signatureKey)
	out.printf("  More settings > Base URL %s\n", deskURL)
	conf := map[string]string{
		"subdomain":                        "demo",
		"base.url":                         deskURL,
		"event.notification.callback.url":  recvURL,
		"event.notification.signature.key": signatureKey,
		"event.poller.refresh_interval":    dc.Interval,
	}
	for k, v := range sim.credentials {
		conf[k] = v
	}
	id, err := CreateInstance(ctx, srv.URL(), user, org, dc.Element, conf)
	if err != nil {
		cancel()
		<-done
		return err
	}
	out.printf("\nInstance %d was created from %s's example body (POST /instances): it polls %s\n", id, dc.Element, sim.polled)
	out.printf("every %s minutes%s. Every %s the simulated %s changes one of those records:\n", dc.Interval, sim.why, dc.ChangeEvery, sim.name)
	out.printf("each 'vendor' line is a change, and after => the event it must bring; each 'event' line is\n")
	out.printf("an event the receiver got, its signature checked, and how long after its change. Ctrl-C stops.\n\n")

	rng := rand.New(rand.NewPCG(dc.Seed, dc.Seed^0x5eed))
	seen := len(sim.Changes())
	tick := time.NewTicker(dc.ChangeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			err := <-done
			if bad := out.summary(); bad > 0 && err == nil {
				err = fmt.Errorf("%d notifications failed the signature check", bad)
			}
			return err
		case <-tick.C:
			what := sim.Mutate(rng)
			changes := sim.Changes()
			out.change(what, sim.events(changes[seen:]))
			seen = len(changes)
		}
	}
}

// story prints the demo's lines, one at a time: each change at the vendor with the events it
// must bring, and each event as the receiver gets it, matched to its change.
type story struct {
	mu      sync.Mutex
	w       io.Writer
	pending map[string]time.Time // "objectType id" -> when its latest change was made, until its event
	changes int
	events  int
	refused int // notifications rejected: a bad signature, a bad body
}

func (s *story) printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.w, format, args...)
}

// change prints a change made at the vendor and the events it must bring.
func (s *story) change(what string, events []expectedEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.changes++
	var brings []string
	for _, e := range events {
		s.pending[e.record] = now
		brings = append(brings, e.String())
	}
	if len(brings) == 0 {
		brings = []string{"no event: it left the record as it was"}
	}
	fmt.Fprintf(s.w, "vendor   %s  %s  => %s\n", now.Format("15:04:05"), what, strings.Join(brings, ", "))
}

// event prints an event the receiver accepted.
func (s *story) event(e engine.EventBody, record []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.events++
	after := ""
	if at, ok := s.pending[e.ObjectType+" "+e.ObjectID]; ok {
		after = fmt.Sprintf(", %.1f s after its change", now.Sub(at).Seconds())
		delete(s.pending, e.ObjectType+" "+e.ObjectID)
	}
	fmt.Fprintf(s.w, "event    %s  %s  signature ok%s\n", now.Format("15:04:05"), eventLine(e, record), after)
}

func (s *story) rejected(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused++
	fmt.Fprintf(s.w, "REJECTED %s  %s\n", time.Now().Format("15:04:05"), reason)
}

// summary prints what the run showed and returns how many notifications were rejected.
func (s *story) summary() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.w, "\nstopped: %d changes at the vendor, %d events received, %d rejected.\n", s.changes, s.events, s.refused)
	if len(s.pending) > 0 {
		recs := make([]string, 0, len(s.pending))
		for r := range s.pending {
			recs = append(recs, r)
		}
		sort.Strings(recs)
		fmt.Fprintf(s.w, "Changed since the last poll, their events not yet sent: %s\n", strings.Join(recs, ", "))
	}
	return s.refused
}

// eventLine is one event as the demo prints it: type, resource, id, subject or name.
func eventLine(e engine.EventBody, record []byte) string {
	label := gjson.GetBytes(record, "subject").String()
	if label == "" {
		label = gjson.GetBytes(record, "name").String()
	}
	if len(label) > 60 {
		label = label[:57] + "..."
	}
	return fmt.Sprintf("%-8s %-10s #%-12s %q", e.EventType, e.ObjectType, e.ObjectID, label)
}

// expectedEvent is the event a change at the vendor must bring: its type and its record.
type expectedEvent struct {
	typ    string
	record string // "objectType id"
}

func (e expectedEvent) String() string { return e.typ + " " + e.record }

// demoVendor is a simulated vendor the demo runs.
type demoVendor struct {
	http.Handler
	name        string
	credentials map[string]string // the instance configuration that authenticates with it
	// signIn is the same, by the labels of the console's form.
	signIn string
	// polled says what the example instance polls, in the vendor's words; interval how often,
	// and why.
	polled, interval, why string
	// Mutate makes one change, only to what the example instance polls, and describes it.
	Mutate  func(*rand.Rand) string
	Changes func() []kernel.Change
	// objectTypes names the instance's object type of each vendor resource it polls.
	objectTypes map[string]string
	// deletedIs is the event a deletion of a vendor resource brings: DELETED where the
	// resource's definition reads deletions, else what the vendor's lists then show.
	deletedIs map[string]string
}

// events returns the events changes must bring (changes from the vendor's change log, side
// effects included), one per record: a record's final state.
func (v *demoVendor) events(changes []kernel.Change) []expectedEvent {
	var out []expectedEvent
	seen := map[string]int{}
	for _, c := range changes {
		ot, ok := v.objectTypes[c.Resource]
		if !ok {
			continue
		}
		typ := "UPDATED" // updated, restored
		switch c.Kind {
		case "created":
			typ = "CREATED"
		case "deleted":
			typ = v.deletedIs[c.Resource]
		}
		e := expectedEvent{typ: typ, record: fmt.Sprintf("%s %d", ot, c.ID)}
		if i, ok := seen[e.record]; ok {
			if out[i].typ != "CREATED" { // a record created and changed at once is CREATED
				out[i] = e
			}
			continue
		}
		seen[e.record] = len(out)
		out = append(out, e)
	}
	return out
}

// newDemoVendor starts the simulator of an element, with sample data.
func newDemoVendor(element string, seed uint64, log hclog.Logger) (*demoVendor, error) {
	switch element {
	case "freshdeskv2":
		desk := freshdesk.New(freshdesk.Options{APIKey: "demo-api-key", Seed: int64(seed), Logger: log.Named("fakedesk")})
		desk.Seed(40, 25)
		return &demoVendor{Handler: desk, name: "Freshdesk", Mutate: desk.MutateTicketOrContact, Changes: desk.Changes,
			polled: "tickets (incidents) and contacts", interval: "0.05",
			objectTypes: map[string]string{"tickets": "incidents", "contacts": "contacts"},
			deletedIs:   map[string]string{"tickets": "DELETED", "contacts": "DELETED"},
			credentials: map[string]string{"username": "demo-api-key"}, signIn: "Subdomain demo · API Key demo-api-key"}, nil
	case "zendesk":
		// No export lag, so that events show within seconds; Pollen keeps to each incremental
		// export's limit of 10 requests a minute, which an interval of 6 s respects.
		zd := zendesk.New(zendesk.Options{Email: "demo@example.com", APIToken: "demo-api-token", Seed: int64(seed),
			MinAge: -1, RatePerMinute: 100_000, Logger: log.Named("fakezendesk")})
		zd.Seed(40, 25, 5)
		return &demoVendor{Handler: zd, name: "Zendesk", Mutate: zd.Mutate, Changes: zd.Changes,
			polled:   "tickets (incidents), users (contacts) and organizations (accounts)",
			interval: "0.1", why: " (Zendesk's incremental exports allow 10 requests a minute each)",
			objectTypes: map[string]string{"tickets": "incidents", "users": "contacts", "organizations": "accounts"},
			// A deleted ticket shows as status "deleted", which the definition reads as a
			// deletion; a deleted user or organization shows only as changed.
			deletedIs:   map[string]string{"tickets": "DELETED", "users": "UPDATED", "organizations": "UPDATED"},
			credentials: map[string]string{"email": "demo@example.com", "api_token": "demo-api-token"},
			signIn:      "Subdomain demo · Email demo@example.com · API Token demo-api-token"}, nil
	}
	return nil, fmt.Errorf("--element %q: the demo simulates freshdeskv2 and zendesk", element)
}

// CreateInstance posts an element's example instance body (for freshdeskv2, seed 000's),
// pointed at this machine, to the server.
func CreateInstance(ctx context.Context, apiURL, user, org, element string, cfg map[string]string) (int64, error) {
	example, err := definitions.Example(element, "polling")
	if err != nil {
		return 0, err
	}
	var body map[string]any
	if err := json.Unmarshal(example, &body); err != nil {
		return 0, err
	}
	conf := body["configuration"].(map[string]any)
	for k, v := range cfg {
		conf[k] = v
	}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, apiURL+"/instances", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "User "+user+", Organization "+org)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("POST /instances: %s: %s", resp.Status, strings.TrimSpace(string(out)))
	}
	var created struct {
		ID int64 `json:"id"`
	}
	err = json.Unmarshal(out, &created)
	return created.ID, err
}
