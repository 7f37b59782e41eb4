package rig

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process is the real pollen binary, pollen serve, in a child process: for what only a process
// shows (a SIGKILL, its own memory). It keeps one data directory across runs, and every run's log.
type Process struct {
	t       testing.TB
	bin     string
	dataDir string
	logDir  string
	args    []string
	env     []string
	runs    int

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
	// URL is the API's base URL of the current run; API calls it as the bootstrap admin.
	URL string
	API *Client
}

// ProcessOptions configure StartProcess.
type ProcessOptions struct {
	DataDir string   // "" = a new temporary directory
	Args    []string // more serve flags
	Env     []string // more environment, KEY=value
}

// StartProcess builds pollen once per test binary (BuildPollen), runs pollen serve on a free
// loopback port with the open egress policy and the rig's secrets, and waits until it is ready
// (GET /readyz). It is killed when the test ends, and its logs shown if the test failed.
func StartProcess(t testing.TB, o ProcessOptions) *Process {
	t.Helper()
	p := &Process{t: t, bin: BuildPollen(t), dataDir: o.DataDir, logDir: t.TempDir(), args: o.Args, env: o.Env}
	if p.dataDir == "" {
		p.dataDir = t.TempDir()
	}
	t.Cleanup(func() {
		if p.cmd != nil {
			p.Kill()
		}
		if t.Failed() {
			t.Logf("pollen logs:\n%s", p.Logs())
		}
	})
	p.Start()
	return p
}

// Start runs pollen serve again, on the same data directory.
func (p *Process) Start() {
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
	args := append([]string{"serve", "--listen", addr, "--data-dir", p.dataDir, "--log-level", "info",
		"--allow-private-networks", "--min-interval", "100ms"}, p.args...)
	cmd := exec.Command(p.bin, args...)
	cmd.Env = append(append(os.Environ(), "POLLEN_USER_SECRET="+UserSecret, "POLLEN_ORGANIZATION_SECRET="+OrgSecret), p.env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd, p.URL, p.exited = cmd, "http://"+addr, make(chan struct{})
	p.API = &Client{T: p.t, URL: p.URL, User: UserSecret, Org: OrgSecret}
	go func(exited chan struct{}) {
		p.err = cmd.Wait()
		close(exited)
	}(p.exited)

	// It is ready when GET /readyz says so; it must not exit meanwhile.
	Until(p.t, "pollen serve to be ready", func() bool {
		select {
		case <-p.exited:
			p.t.Fatalf("pollen serve exited while starting: %v\n%s", p.err, p.Logs())
		default:
		}
		resp, err := http.Get(p.URL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// Kill sends SIGKILL and reaps the process; it fails the test if pollen had exited by itself.
func (p *Process) Kill() {
	p.t.Helper()
	select {
	case <-p.exited:
		p.t.Fatalf("pollen serve exited by itself: %v\n%s", p.err, p.Logs())
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatal(err)
	}
	<-p.exited
	p.cmd = nil
}

// Stop sends SIGTERM, as an operator does, and waits (at most Patience) for a clean exit.
func (p *Process) Stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(Patience):
		p.t.Fatalf("pollen serve still running %s after SIGTERM\n%s", Patience, p.Logs())
	}
	if p.err != nil {
		p.t.Errorf("pollen serve: %v\n%s", p.err, p.Logs())
	}
	p.cmd = nil
}

// Logs returns the tail of every run's log.
func (p *Process) Logs() string {
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

// Running reports whether the process was started and is neither killed nor stopped.
func (p *Process) Running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}
