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
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/pollen-hq/pollen/cmd/internal/cli"
	"github.com/pollen-hq/pollen/cmd/internal/demo"
)

// command is one subcommand. run returns the process exit code.
type command struct {
	name  string
	short string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"demo", "run a simulated Freshdesk, Pollen and a receiver, and show the events", demo.RunDemo},
		{"fakedesk", "serve a simulated Freshdesk API", demo.RunFakedesk},
		{"keys", "rotate the key that seals secrets at rest", runKeys},
		{"migrate", "copy an embedded SQLite installation into PostgreSQL", runMigrate},
		{"serve", "run the API, the pollers and delivery", runServe},
		{"try", "run one poll of a resource, commit nothing, and explain every record", runTry},
		{"users", "manage organizations and users, and their secrets", runUsers},
		{"validate", "check definition files and instance bodies", runValidate},
		{"version", "print the version", runVersion},
	}
}

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
		return cli.ExitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "--help", "-help":
		return runHelp(ctx, args[1:], stdout, stderr)
	case "--version", "-version":
		return runVersion(ctx, args[1:], stdout, stderr)
	}
	if c, ok := lookup(name); ok {
		return c.run(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "pollen: unknown command %q\nRun 'pollen help' for usage.\n", name)
	return cli.ExitUsage
}

// runHelp prints the list of commands, or one command's usage.
func runHelp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		usage(stdout)
		return cli.ExitOK
	case 1:
		if c, ok := lookup(args[0]); ok {
			return c.run(ctx, []string{"-h"}, stdout, stdout)
		}
		fmt.Fprintf(stderr, "pollen help: unknown command %q\nRun 'pollen help' for usage.\n", args[0])
		return cli.ExitUsage
	default:
		fmt.Fprintln(stderr, "usage: pollen help [command]")
		return cli.ExitUsage
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func usage(w io.Writer) {
	fmt.Fprint(w, "Pollen turns helpdesk APIs into signed change events.\n\nUsage:\n\n\tpollen <command> [flags] [arguments]\n\nThe commands are:\n\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "\t%-10s %s\n", c.name, c.short)
	}
	fmt.Fprint(w, "\nUse \"pollen help <command>\" for more information about a command.\n")
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlags("pollen version", "", "Version prints Pollen's module version, the VCS revision it was built from, and the Go\ntoolchain. 'pollen --version' is the same.", stderr)
	if code, ok := cli.ParseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pollen version: unexpected arguments: %v\n", fs.Args())
		return cli.ExitUsage
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintln(stdout, versionLine(bi))
	return cli.ExitOK
}

// versionLine describes a build: "pollen v1.2.0 (revision 0123abcd..., 2026-05-01T10:00:00Z,
// modified) go1.26.8 linux/amd64". A binary built outside a VCS checkout, or with -buildvcs=false,
// has no revision; one built by `go run` or `go test` says "(devel)" for its version.
func versionLine(bi *debug.BuildInfo) string {
	if bi == nil {
		return fmt.Sprintf("pollen (unknown version) %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	ver := bi.Main.Version
	if ver == "" {
		ver = "(devel)"
	}
	var vcs []string
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			vcs = append([]string{"revision " + s.Value}, vcs...)
		case "vcs.time":
			vcs = append(vcs, s.Value)
		case "vcs.modified":
			if s.Value == "true" {
				vcs = append(vcs, "modified")
			}
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	line := "pollen " + ver
	if len(vcs) > 0 {
		line += " (" + strings.Join(vcs, ", ") + ")"
	}
	line += " " + bi.GoVersion
	if goos != "" && goarch != "" {
		line += " " + goos + "/" + goarch
	}
	return line
}
