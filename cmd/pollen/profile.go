package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiles starts a CPU profile into cpuFile (when set), and writes a heap profile into
// memFile (when set) as soon as ctx ends: when shutdown begins, so that it shows the server's
// state rather than what is left of it. The returned stop ends the CPU profile and waits for
// the heap profile.
func startProfiles(ctx context.Context, cpuFile, memFile string) (stop func() error, err error) {
	var cpu *os.File
	if cpuFile != "" {
		if cpu, err = os.OpenFile(cpuFile, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
	}
	heap := make(chan error, 1)
	if memFile == "" {
		heap <- nil
	} else {
		go func() {
			<-ctx.Done()
			f, err := os.OpenFile(memFile, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				heap <- fmt.Errorf("--memprofile: %w", err)
				return
			}
			runtime.GC() // the live heap, not as of the last collection
			heap <- errors.Join(pprof.WriteHeapProfile(f), f.Close())
		}()
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			errs = append(errs, cpu.Close())
		}
		return errors.Join(append(errs, <-heap)...)
	}, nil
}
