// Package cli is what Pollen's commands (pollen, pollen-bench) share on the command line: exit
// codes, flag sets whose flags may come before or after the arguments, flags set from POLLEN_*
// environment variables, the logging flags, comma-separated list flags, and the loopback
// listeners and state directories of the commands that run simulators.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Exit codes, following Go tools: 0 success, 1 failure, 2 usage error.
const (
	ExitOK    = 0
	ExitFail  = 1
	ExitUsage = 2
)

// NewFlags returns a flag set whose usage text starts with the command's synopsis: command is
// what the user types ("pollen serve", "pollen-bench").
func NewFlags(command, synopsis, doc string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s %s\n\n%s\n", command, synopsis, doc)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprint(fs.Output(), "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// ParseFlags parses args and returns the exit code to use when parsing stops the command: -h is
// a success, anything else a usage error. Flags may come before, between and after the
// positional arguments (validate PATH --format json); a "--" ends the flags. fs.Args() holds the
// positional arguments afterwards, in order.
func ParseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return ExitOK, false
			}
			return ExitUsage, false
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
	// Parsing "--" and the positional arguments sets fs.Args() to them and no flag.
	_ = fs.Parse(append([]string{"--"}, positional...))
	return 0, true
}

// StringList is a flag.Value of comma-separated strings, appended to *S.
type StringList struct{ S *[]string }

func (l StringList) String() string {
	if l.S == nil {
		return ""
	}
	return strings.Join(*l.S, ",")
}

// Set appends the non-empty comma-separated items of v.
func (l StringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l.S = append(*l.S, p)
		}
	}
	return nil
}

// DurationList is a flag.Value of comma-separated positive durations, replacing *D.
type DurationList struct{ D *[]time.Duration }

func (l DurationList) String() string {
	if l.D == nil {
		return ""
	}
	parts := make([]string, len(*l.D))
	for i, d := range *l.D {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

// Set reads comma-separated durations such as 8s,1h.
func (l DurationList) Set(s string) error {
	var out []time.Duration
	for _, p := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil || d <= 0 {
			return fmt.Errorf("%q is not a positive duration such as 8s or 1h", p)
		}
		out = append(out, d)
	}
	*l.D = out
	return nil
}

// StateDir returns dir, created when missing, or when dir is "" a new temporary directory that
// cleanup removes.
func StateDir(dir, tempPrefix string) (path string, cleanup func(), err error) {
	if dir != "" {
		return dir, func() {}, os.MkdirAll(dir, 0o700)
	}
	if dir, err = os.MkdirTemp("", tempPrefix); err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// ServeLocal serves h on a loopback port and returns its URL; it stops when ctx ends.
func ServeLocal(ctx context.Context, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	return "http://" + ln.Addr().String(), nil
}
