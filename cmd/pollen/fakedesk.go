package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/freshdesk"
)

const fakedeskDoc = `Fakedesk serves a simulated Freshdesk API v2 (tickets and contacts, with
Freshdesk's filters, paging, 300-page cap, rate-limit headers and 429s), for trying
Pollen or testing a client without a Freshdesk account. Authenticate with basic
auth: the API key as the username, any password. Point an instance at it with the
configuration key base.url.`

func runFakedesk(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("fakedesk", "[flags]", fakedeskDoc, stderr)
	listen := fs.String("listen", "127.0.0.1:8081", "`address` to serve on")
	apiKey := fs.String("api-key", "", "the API key accepted (default: any non-empty key)")
	tickets := fs.Int("tickets", 100, "sample tickets created at start")
	contacts := fs.Int("contacts", 50, "sample contacts created at start")
	seed := fs.Int64("seed", 1, "seed of the sample data and of the changes")
	rate := fs.Int("rate-per-minute", 700, "requests per minute before 429")
	floatHeaders := fs.Bool("float-rate-headers", false, "format X-RateLimit-* values as floats (50.0), as some accounts do")
	changeEvery := fs.Duration("change-every", 0, "make a random change this often (0: never)")
	var lf logFlags
	lf.register(fs, "info")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	log, err := lf.logger("fakedesk", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "pollen fakedesk: %v\n", err)
		return exitUsage
	}
	desk := freshdesk.New(freshdesk.Options{APIKey: *apiKey, Seed: *seed, RatePerMinute: *rate,
		FloatRateHeaders: *floatHeaders, Logger: log})
	desk.Seed(*tickets, *contacts)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Error("cannot listen", "error", err)
		return exitFail
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
	log.Info("listening", "addr", ln.Addr().String(), "tickets", *tickets, "contacts", *contacts)
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Error("server failed", "error", err)
		return exitFail
	}
	return exitOK
}
