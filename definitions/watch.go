package definitions

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"
)

// Watcher defaults.
const (
	DefaultWatchDebounce = 100 * time.Millisecond
	DefaultWatchRescan   = 30 * time.Second
)

// WatcherOptions configure a Watcher.
type WatcherOptions struct {
	Dir      string
	Debounce time.Duration // quiet time after the last event on a path before reporting it; 0 = 100ms
	Rescan   time.Duration // full re-scan interval as a safety net; 0 = 30s; <0 disables
	Logger   hclog.Logger  // nil = null logger
	// OnChange is called (never concurrently, never while another call runs) with the sorted,
	// de-duplicated paths that changed since the last call, after their debounce; and with a nil
	// slice for a periodic re-scan. The callee re-reads the folder itself; paths are for logging.
	OnChange func(paths []string)
}

// Watcher tells a reloader when the definition files under a folder change.
//
// It watches every directory of the tree (fsnotify is not recursive), never single files, so
// editors that save by writing a temporary file and renaming it over the original, or by removing
// and re-creating it, are seen as one change of that path. Only *.json files and directories count;
// dotfiles, dot-directories and editor droppings (x.json~, .x.json.swp, .#x.json, 4913) do not.
// Each path is debounced on its own; paths that become ready close together are reported in one
// call. A periodic re-scan repairs missed watches and asks for a full reload, in case an event was
// lost. Nothing here reads file contents, so a broken file never stops the watcher.
type Watcher struct {
	dir      string
	log      hclog.Logger
	onChange func([]string)
	rescan   time.Duration
	fsw      *fsnotify.Watcher
	running  atomic.Bool

	// Owned by NewWatcher, then by Run's goroutine only.
	watched map[string]bool // directories added to fsw
	pending debouncer       // paths still waiting for their quiet time
	ready   map[string]bool // paths past their quiet time, not yet reported
}

// NewWatcher checks that opts.Dir is a directory and watches it and every directory below it,
// except dot-directories. Events are buffered until Run is called; Run closes the watches.
func NewWatcher(opts WatcherOptions) (*Watcher, error) {
	if opts.Dir == "" {
		return nil, errors.New("definitions watcher: Dir is required")
	}
	if opts.OnChange == nil {
		return nil, errors.New("definitions watcher: OnChange is required")
	}
	dir := filepath.Clean(opts.Dir)
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("definitions watcher: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("definitions watcher: %s is not a directory", dir)
	}
	debounce := opts.Debounce
	if debounce <= 0 {
		debounce = DefaultWatchDebounce
	}
	rescan := opts.Rescan
	if rescan == 0 {
		rescan = DefaultWatchRescan
	}
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("definitions watcher: %w", err)
	}
	if err := fsw.Add(dir); err != nil {
		_ = fsw.Close()
		return nil, fmt.Errorf("definitions watcher: watch %s: %w", dir, err)
	}
	w := &Watcher{
		dir:      dir,
		log:      log,
		onChange: opts.OnChange,
		rescan:   rescan,
		fsw:      fsw,
		watched:  map[string]bool{dir: true},
		pending:  debouncer{quiet: debounce, grace: debounce / 2, due: map[string]time.Time{}},
		ready:    map[string]bool{},
	}
	w.addTree(dir)
	return w, nil
}

// Run reports changes until ctx ends, then closes the watches and returns nil once any OnChange
// call in progress has returned. Changes still waiting for their quiet time are dropped.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("definitions watcher: Run called twice")
	}
	defer w.fsw.Close()

	var rescanC <-chan time.Time
	if w.rescan > 0 {
		t := time.NewTicker(w.rescan)
		defer t.Stop()
		rescanC = t.C
	}
	timer := time.NewTimer(0)
	timer.Stop()
	defer timer.Stop()
	var armed time.Time // when timer fires; zero when stopped

	var (
		rescanDue bool
		busy      <-chan struct{} // closed when the running OnChange returns; nil when idle
	)
	for {
		if busy == nil && (len(w.ready) > 0 || rescanDue) {
			// A re-scan due together with changed paths folds into their call: every call makes
			// the callee re-read the whole folder.
			busy = w.call(w.takeReady())
			rescanDue = false
		}
		if at := w.pending.next(); !at.Equal(armed) {
			armed = at
			if at.IsZero() {
				timer.Stop()
			} else {
				timer.Reset(time.Until(at))
			}
		}

		select {
		case <-ctx.Done():
			if busy != nil {
				<-busy
			}
			return nil
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return errors.New("definitions watcher: fsnotify closed its events")
			}
			w.handle(ev, time.Now())
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return errors.New("definitions watcher: fsnotify closed its errors")
			}
			w.log.Warn("watching definitions", "dir", w.dir, "error", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.resync()
				rescanDue = true
			}
		case <-timer.C:
			armed = time.Time{}
			// Events already queued happened before this moment; a busy machine may not have read
			// them yet. They restart their paths' quiet time before any path is taken as quiet.
			w.drain()
			for _, p := range w.pending.take(time.Now()) {
				w.ready[p] = true
			}
		case <-rescanC:
			w.resync()
			rescanDue = true
		case <-busy:
			busy = nil
		}
	}
}

// handle turns one fsnotify event into changed paths and watch updates.
func (w *Watcher) handle(ev fsnotify.Event, now time.Time) {
	if ev.Op&^fsnotify.Chmod == 0 {
		return // chmod only, or an event type we did not ask for
	}
	name := filepath.Clean(ev.Name)
	base := filepath.Base(name)

	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		switch {
		case w.watched[name]:
			// A directory went away or moved: drop its watches (and those below it, which inotify
			// would otherwise keep reporting under the old path) and report it.
			w.unwatch(name)
			w.changed(name, now)
			if name == w.dir {
				w.log.Warn("definitions folder removed; watching resumes at the next re-scan after it is back", "dir", w.dir)
			}
		case isDefinitionFile(base):
			w.changed(name, now)
		}
	}

	if ev.Has(fsnotify.Create) && !strings.HasPrefix(base, ".") {
		// A directory may be a new element, a new resources folder, or a tree moved in; its
		// files may have been written before its watch existed, so they are reported now.
		if st, err := os.Stat(name); err == nil && st.IsDir() {
			for _, f := range w.addTree(name) {
				w.changed(f, now)
			}
			return
		}
		if isDefinitionFile(base) {
			w.changed(name, now)
		}
		return
	}

	if ev.Has(fsnotify.Write) && isDefinitionFile(base) {
		w.changed(name, now)
	}
}

// drain handles the events fsnotify has queued, without waiting for more.
func (w *Watcher) drain() {
	for {
		select {
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return // Run's loop reports it
			}
			w.handle(ev, time.Now())
		default:
			return
		}
	}
}

// changed (re)starts a path's quiet time; a path reported ready but not yet delivered waits again.
func (w *Watcher) changed(path string, now time.Time) {
	delete(w.ready, path)
	w.pending.touch(path, now)
}

// takeReady returns the ready paths, sorted, and forgets them; nil when there are none.
func (w *Watcher) takeReady() []string {
	if len(w.ready) == 0 {
		return nil
	}
	paths := make([]string, 0, len(w.ready))
	for p := range w.ready {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	clear(w.ready)
	return paths
}

// call runs OnChange on its own goroutine, so events keep being collected (and debounced) while
// the callee reloads; the returned channel closes when it returns.
func (w *Watcher) call(paths []string) <-chan struct{} {
	if paths == nil {
		w.log.Debug("definitions re-scan", "dir", w.dir)
	} else {
		w.log.Debug("definitions changed", "paths", paths)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.onChange(paths)
	}()
	return done
}

// addTree watches root and the directories below it that are not watched yet, skipping
// dot-directories, and returns the definition files it finds. A directory is watched before it is
// listed, so a file created meanwhile is either listed or reported by an event.
func (w *Watcher) addTree(root string) []string {
	var files []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// Usually removed while we walk; its Remove event or the next re-scan tells.
			w.log.Debug("walking definitions", "path", p, "error", err)
			return nil
		}
		if !d.IsDir() {
			if isDefinitionFile(d.Name()) {
				files = append(files, p)
			}
			return nil
		}
		if p != w.dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if w.watched[p] {
			return nil
		}
		if err := w.fsw.Add(p); err != nil {
			w.log.Warn("watching definitions folder", "path", p, "error", err)
			return filepath.SkipDir
		}
		w.watched[p] = true
		return nil
	})
	return files
}

// unwatch drops the watches of dir and every directory below it.
func (w *Watcher) unwatch(dir string) {
	prefix := dir + string(filepath.Separator)
	for p := range w.watched {
		if p == dir || strings.HasPrefix(p, prefix) {
			_ = w.fsw.Remove(p) // often already gone with the directory
			delete(w.watched, p)
		}
	}
}

// resync is the safety net: it forgets watches fsnotify dropped or whose directory is gone, and
// watches directories it missed (including the folder itself, if it was removed and is back).
func (w *Watcher) resync() {
	live := map[string]bool{}
	for _, p := range w.fsw.WatchList() {
		live[filepath.Clean(p)] = true
	}
	for p := range w.watched {
		if st, err := os.Stat(p); !live[p] || err != nil || !st.IsDir() {
			w.unwatch(p)
		}
	}
	if st, err := os.Stat(w.dir); err != nil || !st.IsDir() {
		w.log.Warn("definitions folder missing", "dir", w.dir, "error", err)
		return
	}
	w.addTree(w.dir)
}

// isDefinitionFile reports whether a file name can hold a definition: *.json, not a dotfile.
// Editor droppings fall out by the same rule: x.json~, .x.json.swp, .#x.json, #x.json#, 4913.
func isDefinitionFile(name string) bool {
	return strings.HasSuffix(name, ".json") && !strings.HasPrefix(name, ".")
}

// debouncer holds paths until each has been quiet for a while. It works on given times, so it is
// tested without a clock.
type debouncer struct {
	quiet time.Duration        // quiet time a path needs
	grace time.Duration        // how long a ready path waits for others about to be ready
	due   map[string]time.Time // when each path will have been quiet long enough
}

// touch records an event on path at now, restarting its quiet time.
func (d *debouncer) touch(path string, now time.Time) {
	d.due[path] = now.Add(d.quiet)
}

// next returns when take will hand out paths, or zero when nothing waits: the latest due time
// within grace of the earliest one, so that paths changed together are reported together while
// the earliest waits at most grace beyond its quiet time.
func (d *debouncer) next() time.Time {
	var first time.Time
	for _, t := range d.due {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	at := first
	for _, t := range d.due {
		if t.After(at) && !t.After(first.Add(d.grace)) {
			at = t
		}
	}
	return at
}

// take removes and returns the paths quiet at now, if now is at or after next; otherwise nil.
func (d *debouncer) take(now time.Time) []string {
	if at := d.next(); at.IsZero() || now.Before(at) {
		return nil
	}
	var paths []string
	for p, t := range d.due {
		if !t.After(now) {
			paths = append(paths, p)
			delete(d.due, p)
		}
	}
	sort.Strings(paths)
	return paths
}
