package demo

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/freshdesk"
	"github.com/pollen-hq/pollen/adapters/sim/kernel"
	"github.com/pollen-hq/pollen/adapters/sim/zendesk"
	"github.com/pollen-hq/pollen/cmd/internal/cli"
)

const fakedeskDoc = `Fakedesk serves a simulated Freshdesk API v2 (tickets, contacts, companies,
agents and groups, with Freshdesk's filters, paging, 300-page cap, rate-limit
headers and 429s), for trying Pollen or testing a client without a Freshdesk
account. Authenticate with basic auth: the API key as the username, any password.
Point an instance at it with the configuration key base.url.

--element zendesk serves a simulated Zendesk Support instead: the incremental
exports of tickets, users and organizations (cursor- and time-based, with
Zendesk's one-minute lag and export rate limits) and their REST lists and views.
Authenticate as {email}/token with the API token (--api-key; any by default);
--tickets and --contacts set the sample tickets and users.

The fault flags make it a hostile vendor; all are off by default. The page faults
act on list pages (GET of the five list routes), every one or those of
--fault-resource:
  --latency 300ms-600ms   each page waits (a duration, or a uniform range)
  --drip 1/1s             bodies sent BYTES at a time, DURATION apart
  --body KIND             truncated (cut in the last record), norecords (cut after
                          "["), html (an HTML page), shape ({"items": [...]}); 200s
  --paging KIND           endless (a Link to the next page, past the page cap) or
                          redirect (a 302 to the same URL)
  --fail-rate 0.1         that share of requests fail with --fail-statuses, each
                          failure the first of --fail-burst in a row
  --skew 90s              the vendor's clock runs ahead (or behind, -90s)
  --visible-after 5s      changes show in lists that long after they are made
  --shift 0.2             that share of ticket and contact pages after the first
                          move a row of an earlier page to the end
For example: pollen fakedesk --latency 300ms-600ms --fail-rate 0.05 --change-every 1s`

// RunFakedesk is pollen fakedesk; it returns the exit code.
func RunFakedesk(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlags("pollen fakedesk", "[flags]", fakedeskDoc, stderr)
	listen := fs.String("listen", "127.0.0.1:8081", "`address` to serve on")
	element := fs.String("element", "freshdeskv2", "the `vendor` to simulate: freshdeskv2 or zendesk")
	apiKey := fs.String("api-key", "", "the API key accepted (default: any non-empty key)")
	tickets := fs.Int("tickets", 100, "sample tickets created at start")
	contacts := fs.Int("contacts", 50, "sample contacts created at start")
	seed := fs.Int64("seed", 1, "seed of the sample data and of the changes")
	rate := fs.Int("rate-per-minute", 700, "requests per minute before 429")
	floatHeaders := fs.Bool("float-rate-headers", false, "format X-RateLimit-* values as floats (50.0), as some accounts do")
	changeEvery := fs.Duration("change-every", 0, "make a random change this often (0: never)")
	pageCap := fs.Int("page-cap", 300, "the last page number a ticket query may ask for")
	listRate := fs.Int("list-rate-per-minute", 0, "the Tickets List and Contacts List sub-limit per minute (0: none)")
	latency := fs.String("latency", "", "each list page waits this `duration` or range (300ms-600ms)")
	drip := fs.String("drip", "", "send list page bodies a few bytes at a time: `BYTES/DURATION` (1/1s)")
	body := fs.String("body", "", "spoil list page bodies: truncated, norecords, html or shape")
	paging := fs.String("paging", "", "endless or redirect list pages")
	failRate := fs.Float64("fail-rate", 0, "share of requests that fail (0-1)")
	failStatuses := fs.String("fail-statuses", "429,500,502,503,504", "the `statuses` failures draw from")
	failBurst := fs.Int("fail-burst", 1, "failures in a row, each time one is drawn")
	skew := fs.Duration("skew", 0, "the vendor's clock skew")
	visibleAfter := fs.Duration("visible-after", 0, "how long a change stays out of lists")
	shift := fs.Float64("shift", 0, "share of ticket and contact pages after the first that move a row (0-1)")
	faultResource := fs.String("fault-resource", "", "the one `resource` (tickets, contacts, ...) the page faults and failures act on (default: every one)")
	var lf cli.LogFlags
	lf.Register(fs, "info")
	if code, ok := cli.ParseFlags(fs, args); !ok {
		return code
	}
	log, err := lf.Logger("fakedesk", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "pollen fakedesk: %v\n", err)
		return cli.ExitUsage
	}
	faults, err := fakedeskFaults(*latency, *drip, *body, *paging, *failStatuses, *faultResource)
	if err != nil {
		fmt.Fprintf(stderr, "pollen fakedesk: %v\n", err)
		return cli.ExitUsage
	}
	var desk interface {
		http.Handler
		Mutate(*rand.Rand) string
	}
	switch *element {
	case "freshdeskv2":
		fd := freshdesk.New(freshdesk.Options{APIKey: *apiKey, Seed: *seed, RatePerMinute: *rate,
			FloatRateHeaders: *floatHeaders, Logger: log, PageCap: *pageCap, ListRatePerMinute: *listRate,
			Skew: *skew, VisibleAfter: *visibleAfter, ShiftDuringWalk: *shift,
			Latency: faults.Latency, Drip: faults.Drip, Body: faults.Body, Paging: faults.Paging})
		if *failRate > 0 {
			faults.Fail.Rate, faults.Fail.Burst = *failRate, *failBurst
			fd.SetFail(faults.Fail)
		}
		fd.Seed(*tickets, *contacts)
		desk = fd
	case "zendesk":
		zd := zendesk.New(zendesk.Options{APIToken: *apiKey, Seed: *seed, AccountRatePerMinute: *rate, Logger: log,
			Skew: *skew, VisibleAfter: *visibleAfter, ShiftDuringWalk: *shift,
			Latency: faults.Latency, Drip: faults.Drip, Body: faults.Body, Paging: faults.Paging})
		if *failRate > 0 {
			faults.Fail.Rate, faults.Fail.Burst = *failRate, *failBurst
			zd.SetFail(faults.Fail)
		}
		zd.Seed(*tickets, *contacts, max(*contacts/10, 1))
		desk = zd
	default:
		fmt.Fprintf(stderr, "pollen fakedesk: --element %q: want freshdeskv2 or zendesk\n", *element)
		return cli.ExitUsage
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Error("cannot listen", "error", err)
		return cli.ExitFail
	}
	srv := &http.Server{Handler: desk, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if *changeEvery > 0 {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(*seed), 7))
			t := time.NewTicker(*changeEvery)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					log.Info("change", "what", desk.Mutate(rng))
				}
			}
		}()
	}
	log.Info("listening", "element", *element, "addr", ln.Addr().String(), "tickets", *tickets, "contacts", *contacts)
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Error("server failed", "error", err)
		return cli.ExitFail
	}
	return cli.ExitOK
}

// fakedeskFaults reads the fault flags of pollen fakedesk into kernel knobs scoped to resource.
func fakedeskFaults(latency, drip, body, paging, statuses, resource string) (kernel.Options, error) {
	var o kernel.Options
	var err error
	scope := kernel.Scope{Resource: resource}
	if o.Latency, err = kernel.ParseLatency(latency); err != nil {
		return o, err
	}
	if o.Drip, err = kernel.ParseDrip(drip); err != nil {
		return o, err
	}
	if o.Body.Kind, err = kernel.ParseBodyKind(body); err != nil {
		return o, err
	}
	if o.Paging.Kind, err = kernel.ParsePagingKind(paging); err != nil {
		return o, err
	}
	if o.Fail.Statuses, err = kernel.ParseStatuses(statuses); err != nil {
		return o, err
	}
	o.Latency.Scope, o.Drip.Scope, o.Body.Scope, o.Paging.Scope, o.Fail.Scope = scope, scope, scope, scope, scope
	return o, nil
}
