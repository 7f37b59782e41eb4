// Package rig is the one test rig of Pollen's end-to-end tests: simulated vendors and a
// signature-checking receiver on loopback, and Pollen itself, in this process (Start) or as the
// real binary in a child process (StartProcess), on a data directory that outlives restarts; an
// API client; and waits for conditions, each with a deadline, never for a length of time.
package rig
