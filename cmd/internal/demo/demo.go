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
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tidwall/gjson"

	"github.com/pollen-hq/pollen/adapters/sim/freshdesk"
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
updating and deleting tickets and contacts. Each change is printed as the vendor
makes it, and each event as the receiver gets it. Ctrl-C stops everything.`

// Config is what pollen demo runs.
type Config struct {
	Element     string        // the element to simulate: freshdeskv2 or zendesk
	Interval    string        // the instance's event.poller.refresh_interval, in minutes
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
	fs.StringVar(&dc.Interval, "interval", "0.05", "the instance's event.poller.refresh_interval, in `minutes`")
	fs.DurationVar(&dc.ChangeEvery, "change-every", 2*time.Second, "how often the simulated Freshdesk changes a record")
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
	out := &demoOut{w: stdout}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The simulated vendor, with sample data created before the instance: none of it may
	// produce an event.
	sim, err := newDemoVendor(dc.Element, dc.Seed, log)
	if err != nil {
		return err
	}
	deskURL, err := cli.ServeLocal(ctx, sim)
	if err != nil {
		return err
	}

	// The receiver checks every signature and prints every event.
	const signatureKey = "demo-signature-key"
	var bad int
	rc := &webhook.Receiver{
		Key: signatureKey,
		Handle: func(n *webhook.Notification, _ []byte) {
			recs := n.Message.Records()
			for i, e := range n.Message.Events {
				var rec []byte
				if i < len(recs) {
					rec = recs[i]
				}
				out.printf("event    %s  %s  signature ok\n", time.Now().Format("15:04:05"), eventLine(e, rec))
			}
		},
		Rejected: func(reason string) {
			bad++
			out.printf("REJECTED %s  %s\n", time.Now().Format("15:04:05"), reason)
		},
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
	out.printf("Instance %d created from %s's example body (POST /instances); it polls every %s minutes.\n", id, dc.Element, dc.Interval)
	out.printf("Changes are made every %s. Ctrl-C stops.\n\n", dc.ChangeEvery)

	rng := rand.New(rand.NewPCG(dc.Seed, dc.Seed^0x5eed))
	tick := time.NewTicker(dc.ChangeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			err := <-done
			out.printf("\nstopped.\n")
			if bad > 0 && err == nil {
				err = fmt.Errorf("%d notifications failed the signature check", bad)
			}
			return err
		case <-tick.C:
			out.printf("vendor   %s  %s\n", time.Now().Format("15:04:05"), sim.Mutate(rng))
		}
	}
}

// demoOut serialises the demo's printed lines.
type demoOut struct {
	mu sync.Mutex
	w  io.Writer
}

func (o *demoOut) printf(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, format, args...)
}

// eventLine is one event as the demo prints it: time, type, resource, id, subject or name.
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

// demoVendor is a simulated vendor the demo runs.
type demoVendor struct {
	http.Handler
	name        string
	credentials map[string]string // the instance configuration that authenticates with it
	// signIn is the same, by the labels of the console's form.
	signIn string
	Mutate func(*rand.Rand) string
}

// newDemoVendor starts the simulator of an element, with sample data.
func newDemoVendor(element string, seed uint64, log hclog.Logger) (*demoVendor, error) {
	switch element {
	case "freshdeskv2":
		desk := freshdesk.New(freshdesk.Options{APIKey: "demo-api-key", Seed: int64(seed), Logger: log.Named("fakedesk")})
		desk.Seed(40, 25)
		return &demoVendor{Handler: desk, name: "Freshdesk", Mutate: desk.Mutate,
			credentials: map[string]string{"username": "demo-api-key"}, signIn: "Subdomain demo · API Key demo-api-key"}, nil
	case "zendesk":
		// No export lag and no export rate limit, so that events show within seconds.
		zd := zendesk.New(zendesk.Options{Email: "demo@example.com", APIToken: "demo-api-token", Seed: int64(seed),
			MinAge: -1, RatePerMinute: 100_000, Logger: log.Named("fakezendesk")})
		zd.Seed(40, 25, 5)
		return &demoVendor{Handler: zd, name: "Zendesk", Mutate: zd.Mutate,
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
