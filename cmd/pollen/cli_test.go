package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/cmd/internal/cli"
)

// runCLI runs the command line in-process and returns its exit code and outputs.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// Exit codes follow Go tools everywhere: 0 success, 1 failure, 2 usage error.
func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		args       []string
		code       int
		out, errIn string // substrings of stdout and stderr
	}{
		{args: nil, code: cli.ExitUsage, errIn: "pollen <command>"},
		{args: []string{"help"}, code: cli.ExitOK, out: "The commands are"},
		{args: []string{"--help"}, code: cli.ExitOK, out: "The commands are"},
		{args: []string{"help", "validate"}, code: cli.ExitOK, out: "usage: pollen validate"},
		{args: []string{"help", "nosuch"}, code: cli.ExitUsage, errIn: `unknown command "nosuch"`},
		{args: []string{"help", "serve", "extra"}, code: cli.ExitUsage, errIn: "usage: pollen help"},
		{args: []string{"nosuch"}, code: cli.ExitUsage, errIn: `unknown command "nosuch"`},
		{args: []string{"version"}, code: cli.ExitOK, out: "pollen "},
		{args: []string{"--version"}, code: cli.ExitOK, out: "pollen "},
		{args: []string{"version", "extra"}, code: cli.ExitUsage, errIn: "unexpected arguments"},
		{args: []string{"version", "--nosuch"}, code: cli.ExitUsage, errIn: "flag provided but not defined"},
		{args: []string{"validate", "-h"}, code: cli.ExitOK, errIn: "usage: pollen validate"},
		{args: []string{"validate"}, code: cli.ExitUsage, errIn: "no PATH given"},
		{args: []string{"validate", "--format", "xml", "../../definitions"}, code: cli.ExitUsage, errIn: "--format must be text or json"},
		{args: []string{"validate", "../../definitions"}, code: cli.ExitOK, errIn: "0 problems"},
		{args: []string{"validate", "../../testdata/invalid/wrong-type"}, code: cli.ExitFail, out: "/pageSize: expected integer"},
		{args: []string{"validate", "no/such/path"}, code: cli.ExitFail, out: "no/such/path"},
		{args: []string{"serve", "extra"}, code: cli.ExitUsage, errIn: "unexpected arguments"},
		{args: []string{"serve", "--poll-workers", "many"}, code: cli.ExitUsage, errIn: "invalid value"},
		{args: []string{"serve", "--store", "mysql://root:hunter2@db/x"}, code: cli.ExitUsage, errIn: "must be a PostgreSQL URL"},
		{args: []string{"help", "serve"}, code: cli.ExitOK, out: "--store"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, out, errOut := runCLI(t, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out, errOut)
			}
			if !strings.Contains(out, c.out) {
				t.Errorf("stdout does not contain %q:\n%s", c.out, out)
			}
			if !strings.Contains(errOut, c.errIn) {
				t.Errorf("stderr does not contain %q:\n%s", c.errIn, errOut)
			}
		})
	}
}

// `pollen version` and `pollen --version` say the same thing.
func TestVersionFlag(t *testing.T) {
	_, a, _ := runCLI(t, "version")
	_, b, _ := runCLI(t, "--version")
	if a != b || !strings.HasPrefix(a, "pollen ") {
		t.Errorf("version %q, --version %q", a, b)
	}
}

func TestVersionLine(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var out []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	for _, c := range []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"},
			Settings: settings("GOOS", "linux", "GOARCH", "amd64", "vcs", "git", "vcs.revision", "0123abcd", "vcs.time", "2026-05-01T10:00:00Z", "vcs.modified", "false")},
			"pollen v1.2.0 (revision 0123abcd, 2026-05-01T10:00:00Z) go1.26.8 linux/amd64"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20260501100000-0123abcd0123+dirty"},
			Settings: settings("vcs.revision", "0123abcd", "vcs.modified", "true")},
			"pollen v0.0.0-20260501100000-0123abcd0123+dirty (revision 0123abcd, modified) go1.26.8"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: settings("GOOS", "linux", "GOARCH", "arm64")},
			"pollen (devel) go1.26.8 linux/arm64"},
		{&debug.BuildInfo{GoVersion: "go1.26.8"}, "pollen (devel) go1.26.8"},
	} {
		if got := versionLine(c.bi); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
	if got := versionLine(nil); !strings.HasPrefix(got, "pollen (unknown version) go") {
		t.Errorf("no build info: %s", got)
	}
}

// Flags may follow the paths: `validate PATH --format json` prints JSON about PATH alone.
func TestFlagsAfterPaths(t *testing.T) {
	for _, args := range [][]string{
		{"validate", "../../testdata/invalid/wrong-type", "--format", "json"},
		{"validate", "--format", "json", "../../testdata/invalid/wrong-type"},
		{"validate", "../../testdata/invalid/wrong-type", "--format=json"},
	} {
		code, out, errOut := runCLI(t, args...)
		var rep validateReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v: not JSON (%v): %s %s", args, err, out, errOut)
		}
		if code != cli.ExitFail || len(rep.Files) != 1 || len(rep.Problems) != 2 {
			t.Errorf("%v: exit %d, files %+v, problems %+v", args, code, rep.Files, rep.Problems)
		}
	}
	// Flags between paths; "--" ends the flags, so a path may look like one.
	code, out, _ := runCLI(t, "validate", "../../testdata/invalid/wrong-type", "--format", "json", "../../testdata/invalid/bad-ceql", "--", "--format")
	var rep validateReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON (%v): %s", err, out)
	}
	var files []string
	for _, f := range rep.Files {
		files = append(files, f.File)
	}
	probs := map[string]bool{}
	for _, p := range rep.Problems {
		probs[p.File] = true
	}
	if code != cli.ExitFail || len(files) != 2 || !probs["--format"] {
		t.Errorf("exit %d, files %v, problems in %v", code, files, probs)
	}
}

// Every serve flag can be set from POLLEN_<NAME>; the command line wins; a bad value names its
// variable.
func TestServeFlagsFromEnvironment(t *testing.T) {
	env := map[string]string{
		"POLLEN_POLL_WORKERS":      "5", // also on the command line, which wins
		"POLLEN_DELIVERY_WORKERS":  "7",
		"POLLEN_LISTEN":            "127.0.0.1:9999",
		"POLLEN_RETRY_SCHEDULE":    "1s,2s",
		"POLLEN_HISTORY_RETENTION": "1h",
		"POLLEN_LOG_FORMAT":        "json",
		"POLLEN_DEFINITIONS":       "",
		"POLLEN_STORE":             "postgres://pollen@db:5432/pollen",
		"POLLEN_UNRELATED":         "x",
	}
	asked := map[string]bool{}
	lookup := func(k string) (string, bool) {
		asked[k] = true
		v, ok := env[k]
		return v, ok
	}
	fs, cfg, _ := serveFlags(io.Discard)
	if code, ok := cli.ParseFlags(fs, []string{"--poll-workers", "3", "--definitions", "defs"}); !ok {
		t.Fatalf("parse: %d", code)
	}
	if err := cli.SetFromEnv(fs, lookup); err != nil {
		t.Fatal(err)
	}
	if cfg.PollWorkers != 3 || cfg.DefinitionsDir != "defs" {
		t.Errorf("the command line did not win: poll workers %d, definitions %q", cfg.PollWorkers, cfg.DefinitionsDir)
	}
	if cfg.Store != "postgres://pollen@db:5432/pollen" {
		t.Errorf("POLLEN_STORE: store %q", cfg.Store)
	}
	if cfg.DeliveryWorkers != 7 || cfg.Listen != "127.0.0.1:9999" || cfg.HistoryRetention != time.Hour ||
		!slices.Equal(cfg.Retries, []time.Duration{time.Second, 2 * time.Second}) || fs.Lookup("log-format").Value.String() != "json" {
		t.Errorf("from the environment: %+v, log format %q", *cfg, fs.Lookup("log-format").Value)
	}
	if cfg.DataDir != "pollen-data" || cfg.CallbackConcurrency != 4 {
		t.Errorf("unset variables changed defaults: data dir %q, callback concurrency %d", cfg.DataDir, cfg.CallbackConcurrency)
	}
	// Every flag has its variable, the ones registered outside serveFlags' own list included.
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "poll-workers" && f.Name != "definitions" && !asked[cli.EnvName(f.Name)] {
			t.Errorf("--%s: %s not read", f.Name, cli.EnvName(f.Name))
		}
	})
	if cli.EnvName("poll-workers") != "POLLEN_POLL_WORKERS" {
		t.Errorf("envName: %s", cli.EnvName("poll-workers"))
	}

	fs, _, _ = serveFlags(io.Discard)
	err := cli.SetFromEnv(fs, func(k string) (string, bool) {
		v, ok := map[string]string{"POLLEN_CALLBACK_RATE": "fast", "POLLEN_HISTORY_RETENTION": "a week"}[k]
		return v, ok
	})
	if err == nil || !strings.Contains(err.Error(), "POLLEN_CALLBACK_RATE") || !strings.Contains(err.Error(), "POLLEN_HISTORY_RETENTION") {
		t.Errorf("bad values: %v", err)
	}

	// Through the command: a bad value is a usage error that names the variable; help lists them.
	t.Setenv("POLLEN_POLL_WORKERS", "many")
	code, _, errOut := runCLI(t, "serve", "--data-dir", t.TempDir())
	if code != cli.ExitUsage || !strings.Contains(errOut, "POLLEN_POLL_WORKERS") {
		t.Errorf("exit %d: %s", code, errOut)
	}
	_, out, _ := runCLI(t, "help", "serve")
	if !strings.Contains(out, "POLLEN_POLL_WORKERS") || !strings.Contains(out, "POLLEN_DATA_DIR") {
		t.Errorf("help serve does not name the variables:\n%s", out)
	}
}
