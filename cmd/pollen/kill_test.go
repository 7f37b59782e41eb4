package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/cmd/internal/demo"
)

// pollenProc runs the real pollen binary, `pollen serve`, on one data directory.
type pollenProc struct {
	t       *testing.T
	bin     string
	dataDir string
	logDir  string
	runs    int

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
	url    string
}

// start runs pollen serve on a free loopback port and waits until its API answers.
func (p *pollenProc) start() {
	p.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		p.t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p.runs++
	logFile, err := os.Create(filepath.Join(p.logDir, fmt.Sprintf("run%d.log", p.runs)))
	if err != nil {
		p.t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(p.bin, "serve", "--listen", addr, "--data-dir", p.dataDir, "--log-level", "info",
		"--allow-private-networks", "--min-interval", "100ms")
	cmd.Env = append(os.Environ(), "POLLEN_USER_SECRET=user-secret-0f3e-49ab-a8c1-5d72e6", "POLLEN_ORGANIZATION_SECRET=org-secret-7b21-4c9d-9e05-a3f86b")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd, p.url, p.exited = cmd, "http://"+addr, make(chan struct{})
	go func(exited chan struct{}) {
		p.err = cmd.Wait()
		close(exited)
	}(p.exited)

	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-p.exited:
			p.t.Fatalf("pollen serve exited while starting: %v\n%s", p.err, p.logs())
		default:
		}
		req, _ := http.NewRequest(http.MethodGet, p.url+"/instances", nil)
		req.Header.Set("Authorization", "User user-secret-0f3e-49ab-a8c1-5d72e6, Organization org-secret-7b21-4c9d-9e05-a3f86b")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("pollen serve did not answer within 20 s\n%s", p.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL and reaps the process; it fails the test if pollen had exited by itself.
func (p *pollenProc) kill() {
	p.t.Helper()
	select {
	case <-p.exited:
		p.t.Fatalf("pollen serve exited by itself: %v\n%s", p.err, p.logs())
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatal(err)
	}
	<-p.exited
	p.cmd = nil
}

// logs returns the tail of every run's log.
func (p *pollenProc) logs() string {
	var b strings.Builder
	for i := 1; i <= p.runs; i++ {
		data, _ := os.ReadFile(filepath.Join(p.logDir, fmt.Sprintf("run%d.log", i)))
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		fmt.Fprintf(&b, "--- run %d (last %d lines)\n%s\n", i, len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}

// TestKillNineLosesNothing: the real binary is SIGKILLed three times while tickets and contacts
// change, and changed more while it is down; restarted on the same data directory each time, it
// catches up. Every change arrives: each record's final state; each record created after the
// instance one CREATED (after de-duplication by eventId, as receivers do); deletions. A
// notification sent but not yet recorded when the process died is sent again after the restart,
// with the same eventIds: at-least-once, and the test reports how many such duplicates occurred
// (copies must be identical events; see dlReceiver.received).
func TestKillNineLosesNothing(t *testing.T) {
	bin := buildPollen(t)
	dir := t.TempDir()

	h := newHarness(t)
	w := newDLWorld(t, h, 3)
	rcv := newDLReceiver(t)
	// A receiver that takes 100 ms to answer widens the window in which a kill finds a
	// notification handled by the receiver but not yet recorded as delivered by Pollen.
	rcv.delay = 100 * time.Millisecond
	p := &pollenProc{t: t, bin: bin, dataDir: filepath.Join(dir, "data"), logDir: dir}
	t.Cleanup(func() {
		if p.cmd != nil {
			p.kill()
		}
		if t.Failed() {
			t.Logf("pollen logs:\n%s", p.logs())
		}
	})
	p.start()
	id, err := demo.CreateInstance(context.Background(), p.url, testUserSecret, testOrgSecret, "freshdeskv2", map[string]string{
		"subdomain":                        "e2e",
		"username":                         e2eAPIKey,
		"base.url":                         h.deskURL,
		"event.notification.callback.url":  rcv.url,
		"event.notification.signature.key": e2eSignatureKey,
		"event.poller.refresh_interval":    "0.01",
	})
	if err != nil {
		t.Fatal(err)
	}

	step, deletions := 0, 0
	change := func(n int) {
		for range n {
			w.step(step)
			step++
			time.Sleep(150 * time.Millisecond)
		}
	}
	const rounds = 3
	for round := range rounds {
		change(6 + 2*round) // about 1-1.5 s of changes, while pollen polls and delivers
		time.Sleep(time.Duration(200*round) * time.Millisecond)
		p.kill()
		change(4) // while it is down
		if w.deleteOld() {
			deletions++
		}
		p.start()
	}
	change(4)

	// A notification whose sender died mid-body is refused as unreadable (and sent again after
	// the restart); a bad signature is never excused.
	const cutOff = "notification rejected by the receiver: reading the body"
	var dups, cut int
	probs := dlSettle(t, func() []string {
		evs, d, probs := rcv.received()
		dups, cut = d, 0
		probs = slices.DeleteFunc(probs, func(p string) bool {
			if strings.HasPrefix(p, cutOff) {
				cut++
				return true
			}
			return false
		})
		return append(probs, w.problems(evs)...)
	})
	for _, msg := range probs {
		t.Error(msg)
	}
	evs, _, _ := rcv.received()
	t.Logf("instance %d: %d changes and %d deletions over %d kills; %d notifications accepted (%d cut off by a kill), %d distinct events, %d duplicate deliveries (same eventId, identical)",
		id, step, deletions, rounds, len(rcv.accepted()), cut, len(evs), dups)
}

var built struct {
	once sync.Once
	dir  string
	err  error
}

// buildPollen builds the pollen binary once per test run (without -race: it is the real
// program under test, run as a child process) and returns its path.
func buildPollen(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: cannot build the pollen binary")
	}
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "pollen-bin-")
		if built.err != nil {
			return
		}
		out, err := exec.Command(goBin, "build", "-o", filepath.Join(built.dir, "pollen"), ".").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return filepath.Join(built.dir, "pollen")
}
