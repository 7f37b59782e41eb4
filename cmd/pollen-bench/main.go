// Command pollen-bench measures Pollen under load: a simulated Freshdesk with one account per
// instance, a signature-checking receiver, and pollen serve as a child process. It sits beside
// pollen as promtool sits beside prometheus, so that none of its code is in the server's binary.
//
// Usage:
//
//	pollen-bench [flags]
//
// 'pollen-bench -h' describes the flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runBench(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
