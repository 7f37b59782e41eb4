// Command pollen polls helpdesk APIs and turns their changes into signed event notifications,
// compatible with the Cloud Elements events framework.
//
// Usage:
//
//	pollen <command> [flags] [arguments]
//
// The commands are listed by `pollen help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand. run returns the process exit code.
type command struct {
	name  string
	short string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"bench", "measure Pollen under load: many accounts, changes, a burst", runBench},
		{"demo", "run a simulated Freshdesk, Pollen and a receiver, and show the events", runDemo},
		{"fakedesk", "serve a simulated Freshdesk API", runFakedesk},
		{"keys", "rotate the key that seals secrets at rest", runKeys},
		{"serve", "run the API, the pollers and delivery", runServe},
		{"users", "manage organizations and users, and their secrets", runUsers},
		{"validate", "check definition files and instance bodies", runValidate},
		{"version", "print the version", runVersion},
	}
}

// Exit codes, following Go tools: 0 success, 1 failure, 2 usage error.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	// Every file Pollen creates is its user's alone, whatever the directory's mode.
	syscall.Umask(0o077)
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal stops gracefully: no new polls, deliveries under way finish, the store
		// closes. A second one exits at once; every poll and delivery is committed atomically, so
		// that loses nothing either: an interrupted poll is read again, an unrecorded delivery
		// sent again (receivers de-duplicate on eventId).
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "pollen: second signal: exiting now")
		os.Exit(exitInterrupted)
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}

// exitInterrupted is the status of an exit forced by a second signal (128 + SIGINT).
const exitInterrupted = 130

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		if len(args) > 1 {
			for _, c := range commands() {
				if c.name == args[1] {
					return c.run(ctx, []string{"-h"}, stdout, stdout)
				}
			}
		}
		usage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "pollen: unknown command %q\nRun 'pollen help' for usage.\n", name)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, "Pollen turns helpdesk APIs into signed change events.\n\nUsage:\n\n\tpollen <command> [flags] [arguments]\n\nThe commands are:\n\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "\t%-10s %s\n", c.name, c.short)
	}
	fmt.Fprint(w, "\nUse \"pollen help <command>\" for more information about a command.\n")
}

// newFlags returns a flag set whose usage text starts with the command's synopsis.
func newFlags(name, synopsis, doc string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: pollen %s %s\n\n%s\n", name, synopsis, doc)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprint(fs.Output(), "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args and returns the exit code to use when parsing stops the command: -h is
// a success, anything else a usage error.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}

var version = "devel"

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", "", "Version prints Pollen's version.", stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fmt.Fprintf(stdout, "pollen %s\n", version)
	return exitOK
}
