package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tidwall/gjson"

	"github.com/pollen-hq/pollen/adapters/sim/freshdesk"
	"github.com/pollen-hq/pollen/adapters/sim/zendesk"
	"github.com/pollen-hq/pollen/adapters/webhook"
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

type demoConfig struct {
	element     string
	duration    time.Duration
	interval    string
	changeEvery time.Duration
	seed        uint64
	dataDir     string
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", "[flags]", demoDoc, stderr)
	var dc demoConfig
	fs.DurationVar(&dc.duration, "duration", 0, "stop after this long (0: run until interrupted)")
	fs.StringVar(&dc.interval, "interval", "0.05", "the instance's event.poller.refresh_interval, in `minutes`")
	fs.DurationVar(&dc.changeEvery, "change-every", 2*time.Second, "how often the simulated Freshdesk changes a record")
	fs.Uint64Var(&dc.seed, "seed", 1, "seed of the sample data and of the changes")
	fs.StringVar(&dc.dataDir, "data-dir", "", "`directory` for Pollen's state (default: a temporary one, removed at exit)")
	fs.StringVar(&dc.element, "element", "freshdeskv2", "the `element` to simulate: freshdeskv2 or zendesk")
	var lf logFlags
	lf.register(fs, "warn")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	log, err := lf.logger("pollen", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "pollen demo: %v\n", err)
		return exitUsage
	}
	if dc.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, dc.duration)
		defer cancel()
	}
	if err := demo(ctx, dc, log, stdout); err != nil {
		fmt.Fprintf(stderr, "pollen demo: %v\n", err)
		return exitFail
	}
	return exitOK
}

// demo runs the demonstration until ctx ends.
func demo(ctx context.Context, dc demoConfig, log hclog.Logger, stdout io.Writer) error {
	out := &demoOut{w: stdout}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The simulated vendor, with sample data created before the instance: none of it may
	// produce an event.
	sim, err := newDemoVendor(dc.element, dc.seed, log)
	if err != nil {
		return err
	}
	deskURL, err := serveLocal(ctx, sim)
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
	recvURL, err := serveLocal(ctx, rc)
	if err != nil {
		return err
	}

	// Pollen itself, exactly as `pollen serve` builds it.
	dataDir, cleanup, err := stateDir(dc.dataDir, "pollen-demo-")
	if err != nil {
		return err
	}
	defer cleanup()
	// The simulator and the receiver are on loopback: the demo opens the egress policy to them.
	srv, err := newServer(ctx, serverConfig{Listen: "127.0.0.1:0", DataDir: dataDir,
		UserSecret: tenants.NewSecret(), OrgSecret: tenants.NewSecret(), Logger: log,
		AllowPrivateNetworks: true, MinInterval: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	out.printf("Pollen demo: a simulated %s, a Pollen server and a signature-checking receiver, all on this machine.\n", sim.name)
	out.printf("  simulated %-10s %s  (sample records created before the instance: no events for them)\n", sim.name, deskURL)
	out.printf("  Pollen API           %s\n", srv.URL())
	out.printf("  Pollen console       %s\n", srv.signInLink(24*time.Hour))
	out.printf("                       (open it in a browser: it signs you in, once)\n")
	out.printf("  receiver             %s\n", recvURL)
	out.printf("To poll the simulator from the console's New instance form:\n")
	out.printf("  %s\n", sim.signIn)
	out.printf("  Events Enabled on · Event poller refresh interval (mins) %s\n", dc.interval)
	out.printf("  Event Notification Callback URL %s · Event Notification Signature Key %s\n", recvURL, signatureKey)
	out.printf("  More settings > Base URL %s\n", deskURL)
	conf := map[string]string{
		"subdomain":                        "demo",
		"base.url":                         deskURL,
		"event.notification.callback.url":  recvURL,
		"event.notification.signature.key": signatureKey,
		"event.poller.refresh_interval":    dc.interval,
	}
	for k, v := range sim.credentials {
		conf[k] = v
	}
	id, err := createDemoInstance(ctx, srv.URL(), srv.cfg.UserSecret, srv.cfg.OrgSecret, dc.element, conf)
	if err != nil {
		cancel()
		<-done
		return err
	}
	out.printf("Instance %d created from %s's example body (POST /instances); it polls every %s minutes.\n", id, dc.element, dc.interval)
	out.printf("Changes are made every %s. Ctrl-C stops.\n\n", dc.changeEvery)

	rng := rand.New(rand.NewPCG(dc.seed, dc.seed^0x5eed))
	tick := time.NewTicker(dc.changeEvery)
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

// stateDir returns dir, created when missing, or when dir is "" a new temporary directory that
// cleanup removes.
func stateDir(dir, tempPrefix string) (path string, cleanup func(), err error) {
	if dir != "" {
		return dir, func() {}, os.MkdirAll(dir, 0o700)
	}
	if dir, err = os.MkdirTemp("", tempPrefix); err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// serveLocal serves h on a loopback port and returns its URL; it stops when ctx ends.
func serveLocal(ctx context.Context, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return "http://" + ln.Addr().String(), nil
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

// createDemoInstance posts an element's example instance body (for freshdeskv2, seed 000's),
// pointed at this machine, to the server.
func createDemoInstance(ctx context.Context, apiURL, user, org, element string, cfg map[string]string) (int64, error) {
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
