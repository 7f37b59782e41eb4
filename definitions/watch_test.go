package definitions

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

const (
	testDebounce = 50 * time.Millisecond
	testWait     = 5 * time.Second       // bound on waiting for a call that must come
	testQuiet    = 6 * testDebounce      // how long a call that must not come is awaited
	testNoRescan = -1 * time.Millisecond // Rescan value that disables re-scans
)

// logWriter sends a watcher's log to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// tree makes a definitions folder with one element and one resource, and returns its path.
func tree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "el", "element.json"), `{}`)
	write(t, filepath.Join(dir, "el", "resources", "r.json"), `{}`)
	return dir
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// watch runs a Watcher on dir until the test ends and returns the calls it makes. A nil onChange
// records calls; otherwise onChange is called first (and may block).
func watch(t *testing.T, dir string, rescan time.Duration, onChange func([]string)) <-chan []string {
	t.Helper()
	calls := make(chan []string, 100)
	w, err := NewWatcher(WatcherOptions{
		Dir:      dir,
		Debounce: testDebounce,
		Rescan:   rescan,
		Logger:   hclog.New(&hclog.LoggerOptions{Output: logWriter{t}, Level: hclog.Debug}),
		OnChange: func(paths []string) {
			if onChange != nil {
				onChange(paths)
			}
			calls <- paths
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(testWait):
			t.Error("Run did not return after cancel")
		}
	})
	return calls
}

// nextCall waits for one call.
func nextCall(t *testing.T, calls <-chan []string) []string {
	t.Helper()
	select {
	case paths := <-calls:
		return paths
	case <-time.After(testWait):
		t.Fatal("no OnChange call")
		return nil
	}
}

// noCall checks that no call comes for a while.
func noCall(t *testing.T, calls <-chan []string) {
	t.Helper()
	select {
	case paths := <-calls:
		t.Fatalf("unexpected OnChange(%q)", paths)
	case <-time.After(testQuiet):
	}
}

// callsNaming waits until the calls together have named every wanted path.
func callsNaming(t *testing.T, calls <-chan []string, want ...string) {
	t.Helper()
	seen := map[string]bool{}
	for {
		missing := slices.DeleteFunc(slices.Clone(want), func(p string) bool { return seen[p] })
		if len(missing) == 0 {
			return
		}
		select {
		case paths := <-calls:
			for _, p := range paths {
				seen[p] = true
			}
		case <-time.After(testWait):
			t.Fatalf("no OnChange call named %q", missing)
		}
	}
}

// promptly runs steps that must follow each other within limit for the test's claim to hold, as
// writes must come within the debounce to be one change. A machine too loaded to do that in time
// cannot show the claim either way, so the test is skipped, not failed.
func promptly(t *testing.T, limit time.Duration, steps func()) {
	t.Helper()
	start := time.Now()
	steps()
	if took := time.Since(start); took >= limit {
		t.Skipf("steps took %v, not under %v: machine too loaded to test this", took, limit)
	}
}

func exactlyOneCall(t *testing.T, calls <-chan []string, want ...string) {
	t.Helper()
	if got := nextCall(t, calls); !slices.Equal(got, want) {
		t.Fatalf("OnChange(%q), want OnChange(%q)", got, want)
	}
	noCall(t, calls)
}

func TestWatchNewFile(t *testing.T) {
	dir := tree(t)
	calls := watch(t, dir, testNoRescan, nil)
	p := filepath.Join(dir, "el", "resources", "new.json")
	write(t, p, `{}`)
	exactlyOneCall(t, calls, p)
}

func TestWatchRapidWritesOneCall(t *testing.T) {
	dir := tree(t)
	calls := watch(t, dir, testNoRescan, nil)
	p := filepath.Join(dir, "el", "element.json")
	// Ten writes spread over twice the debounce, each within half of it of the one before.
	for i := range 10 {
		promptly(t, testDebounce/2, func() {
			write(t, p, `{"n":`+string(rune('0'+i))+`}`)
			time.Sleep(testDebounce / 5)
		})
	}
	exactlyOneCall(t, calls, p)
}

func TestWatchTwoFilesBatched(t *testing.T) {
	dir := tree(t)
	calls := watch(t, dir, testNoRescan, nil)
	a := filepath.Join(dir, "el", "element.json")
	b := filepath.Join(dir, "el", "resources", "r.json")
	promptly(t, testDebounce/4, func() { // within the grace of half the debounce
		write(t, b, `{"b":1}`)
		write(t, a, `{"a":1}`)
	})
	exactlyOneCall(t, calls, a, b)
}

func TestWatchChmodIgnored(t *testing.T) {
	dir := tree(t)
	calls := watch(t, dir, testNoRescan, nil)
	if err := os.Chmod(filepath.Join(dir, "el", "element.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	noCall(t, calls)
}

// TestWatchSaveStyles saves a file the ways editors do; each is one change of that path.
func TestWatchSaveStyles(t *testing.T) {
	tests := []struct {
		name string
		save func(t *testing.T, path string)
	}{
		{"in place", func(t *testing.T, p string) { write(t, p, `{"v":2}`) }},
		{"temp then rename over", func(t *testing.T, p string) {
			write(t, p+".tmp", `{"v":2}`)
			if err := os.Rename(p+".tmp", p); err != nil {
				t.Fatal(err)
			}
		}},
		{"hidden temp then rename over", func(t *testing.T, p string) {
			tmp := filepath.Join(filepath.Dir(p), ".r.json.swp")
			write(t, tmp, `{"v":2}`)
			if err := os.Rename(tmp, p); err != nil {
				t.Fatal(err)
			}
		}},
		{"backup by rename then create", func(t *testing.T, p string) {
			if err := os.Rename(p, p+"~"); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(filepath.Dir(p), "4913"), ``)
			if err := os.Remove(filepath.Join(filepath.Dir(p), "4913")); err != nil {
				t.Fatal(err)
			}
			write(t, p, `{"v":2}`)
			if err := os.Remove(p + "~"); err != nil {
				t.Fatal(err)
			}
		}},
		{"remove then create", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			write(t, p, `{"v":2}`)
		}},
		{"broken content", func(t *testing.T, p string) { write(t, p, `{"v":`) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tree(t)
			calls := watch(t, dir, testNoRescan, nil)
			p := filepath.Join(dir, "el", "resources", "r.json")
			promptly(t, testDebounce/2, func() { tt.save(t, p) })
			exactlyOneCall(t, calls, p)
		})
	}
}

func TestWatchRemoveFile(t *testing.T) {
	dir := tree(t)
	calls := watch(t, dir, testNoRescan, nil)
	p := filepath.Join(dir, "el", "resources", "r.json")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	exactlyOneCall(t, calls, p)
}

func TestWatchNewElementFolder(t *testing.T) {
	tests := []struct {
		name   string
		create func(t *testing.T, dir string) // makes dir/el2 with element.json and resources/a.json
	}{
		{"mkdir then write", func(t *testing.T, dir string) {
			if err := os.MkdirAll(filepath.Join(dir, "el2", "resources"), 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, "el2", "element.json"), `{}`)
			write(t, filepath.Join(dir, "el2", "resources", "a.json"), `{}`)
		}},
		{"made elsewhere and moved in", func(t *testing.T, dir string) {
			src := filepath.Join(t.TempDir(), "el2")
			write(t, filepath.Join(src, "element.json"), `{}`)
			write(t, filepath.Join(src, "resources", "a.json"), `{}`)
			if err := os.Rename(src, filepath.Join(dir, "el2")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tree(t)
			calls := watch(t, dir, testNoRescan, nil)
			tt.create(t, dir)
			callsNaming(t, calls,
				filepath.Join(dir, "el2", "element.json"),
				filepath.Join(dir, "el2", "resources", "a.json"))

			// The new folders are watched too.
			p := filepath.Join(dir, "el2", "resources", "b.json")
			write(t, p, `{}`)
			callsNaming(t, calls, p)
		})
	}
}

func TestWatchRenameElementFolder(t *testing.T) {
	dir := tree(t)
	calls := watch(t, dir, testNoRescan, nil)
	if err := os.Rename(filepath.Join(dir, "el"), filepath.Join(dir, "renamed")); err != nil {
		t.Fatal(err)
	}
	callsNaming(t, calls,
		filepath.Join(dir, "el"),
		filepath.Join(dir, "renamed", "element.json"),
		filepath.Join(dir, "renamed", "resources", "r.json"))

	// Events below the moved folder carry its new name, not the old one.
	p := filepath.Join(dir, "renamed", "resources", "b.json")
	write(t, p, `{}`)
	exactlyOneCall(t, calls, p)
}

func TestWatchRemoveFolderKeepsWatching(t *testing.T) {
	dir := tree(t)
	calls := watch(t, dir, testNoRescan, nil)
	if err := os.RemoveAll(filepath.Join(dir, "el")); err != nil {
		t.Fatal(err)
	}
	callsNaming(t, calls, filepath.Join(dir, "el", "element.json"), filepath.Join(dir, "el", "resources", "r.json"))

	p := filepath.Join(dir, "el", "resources", "r.json")
	write(t, p, `{}`)
	callsNaming(t, calls, p)
}

func TestWatchIgnoresDotfilesAndTemp(t *testing.T) {
	dir := tree(t)
	calls := watch(t, dir, testNoRescan, nil)
	res := filepath.Join(dir, "el", "resources")
	for _, name := range []string{".hidden.json", ".r.json.swp", ".#r.json", "r.json~", "#r.json#", "4913", "notes.txt"} {
		write(t, filepath.Join(res, name), `{}`)
	}
	write(t, filepath.Join(dir, ".git", "objects", "x.json"), `{}`)
	noCall(t, calls)

	p := filepath.Join(res, "real.json")
	write(t, p, `{}`)
	exactlyOneCall(t, calls, p)
}

func TestWatchRescan(t *testing.T) {
	dir := tree(t)
	calls := watch(t, dir, 2*testDebounce, nil)
	if got := nextCall(t, calls); got != nil {
		t.Fatalf("OnChange(%q), want OnChange(nil)", got)
	}
	if got := nextCall(t, calls); got != nil {
		t.Fatalf("OnChange(%q), want OnChange(nil)", got)
	}
}

// TestWatchOnChangeNeverConcurrent blocks the first call while more files change: the next call
// comes only after the first returns, and names them.
func TestWatchOnChangeNeverConcurrent(t *testing.T) {
	dir := tree(t)
	var (
		inFlight, maxInFlight atomic.Int32
		entered               = make(chan struct{}, 10)
		release               = make(chan struct{})
		releaseOnce           sync.Once
	)
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	calls := watch(t, dir, testNoRescan, func([]string) {
		n := inFlight.Add(1)
		if n > maxInFlight.Load() {
			maxInFlight.Store(n)
		}
		entered <- struct{}{}
		<-release
		inFlight.Add(-1)
	})

	a := filepath.Join(dir, "el", "element.json")
	write(t, a, `{"v":2}`)
	select {
	case <-entered:
	case <-time.After(testWait):
		t.Fatal("no OnChange call")
	}

	b := filepath.Join(dir, "el", "resources", "b.json")
	c := filepath.Join(dir, "el", "resources", "c.json")
	promptly(t, testDebounce/4, func() { // one call names both
		write(t, b, `{}`)
		write(t, c, `{}`)
	})
	// Long enough for b and c to be ready while the first call still runs.
	time.Sleep(3 * testDebounce)
	select {
	case <-entered:
		t.Fatal("OnChange called while another call runs")
	default:
	}
	releaseOnce.Do(func() { close(release) })

	if got := nextCall(t, calls); !slices.Equal(got, []string{a}) {
		t.Fatalf("first OnChange(%q), want OnChange(%q)", got, []string{a})
	}
	if got := nextCall(t, calls); !slices.Equal(got, []string{b, c}) {
		t.Fatalf("second OnChange(%q), want OnChange(%q)", got, []string{b, c})
	}
	if n := maxInFlight.Load(); n != 1 {
		t.Fatalf("%d OnChange calls ran at once", n)
	}
}

func TestWatchRunReturnsOnCancel(t *testing.T) {
	w, err := NewWatcher(WatcherOptions{Dir: tree(t), OnChange: func([]string) {}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(testWait):
		t.Fatal("Run did not return after cancel")
	}
	if err := w.Run(context.Background()); err == nil {
		t.Fatal("second Run: no error")
	}
}

func TestWatchOptionsInvalid(t *testing.T) {
	dir := tree(t)
	file := filepath.Join(dir, "el", "element.json")
	noop := func([]string) {}
	tests := []struct {
		name string
		opts WatcherOptions
	}{
		{"no dir", WatcherOptions{OnChange: noop}},
		{"missing dir", WatcherOptions{Dir: filepath.Join(dir, "nope"), OnChange: noop}},
		{"file, not dir", WatcherOptions{Dir: file, OnChange: noop}},
		{"no OnChange", WatcherOptions{Dir: dir}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewWatcher(tt.opts); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestWatchDebouncer drives the debouncer with made-up times: no clock, no sleeping.
func TestWatchDebouncer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	type touch struct {
		at   int // ms
		path string
	}
	tests := []struct {
		name    string
		touches []touch
		next    int      // ms; -1 for nothing pending
		early   int      // a take before next returns nothing
		want    []string // take at next
		left    int      // ms of next afterwards; -1 for nothing pending
	}{
		{"nothing", nil, -1, 0, nil, -1},
		{"one path", []touch{{0, "a"}}, 100, 99, []string{"a"}, -1},
		{"each event restarts the path's quiet time",
			[]touch{{0, "a"}, {40, "a"}, {80, "a"}}, 180, 179, []string{"a"}, -1},
		{"paths ready within grace are one batch",
			[]touch{{0, "a"}, {30, "b"}}, 130, 129, []string{"a", "b"}, -1},
		{"a path ready beyond grace is not waited for",
			[]touch{{0, "a"}, {60, "b"}}, 100, 99, []string{"a"}, 160},
		{"a busy path does not hold back a quiet one",
			[]touch{{0, "a"}, {0, "b"}, {40, "b"}, {80, "b"}}, 100, 99, []string{"a"}, 180},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := debouncer{quiet: 100 * time.Millisecond, grace: 50 * time.Millisecond, due: map[string]time.Time{}}
			for _, tc := range tt.touches {
				d.touch(tc.path, ms(tc.at))
			}
			at := func(n int) time.Time {
				if n < 0 {
					return time.Time{}
				}
				return ms(n)
			}
			if got := d.next(); !got.Equal(at(tt.next)) {
				t.Fatalf("next = %v, want %v", got.Sub(t0), at(tt.next).Sub(t0))
			}
			if tt.next < 0 {
				return
			}
			if got := d.take(ms(tt.early)); got != nil {
				t.Fatalf("take before next = %q", got)
			}
			if got := d.take(ms(tt.next)); !slices.Equal(got, tt.want) {
				t.Fatalf("take = %q, want %q", got, tt.want)
			}
			if got := d.next(); !got.Equal(at(tt.left)) {
				t.Fatalf("next afterwards = %v, want %v", got.Sub(t0), at(tt.left).Sub(t0))
			}
		})
	}
}
