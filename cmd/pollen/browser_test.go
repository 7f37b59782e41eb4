package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The console's browser tests drive headless Chromium (Debian's /usr/bin/chromium) through the
// DevTools protocol. Without Chromium they skip, unless POLLEN_BROWSER_TESTS=require (as in CI),
// where they fail. POLLEN_SCREENSHOTS=DIR writes a PNG of each page visited, at a desktop and a
// phone width, to DIR.

// One Chromium serves every test of the process; each test gets a tab in a browser context of
// its own (its own cookies). TestMain stops it.
var chromium struct {
	once    sync.Once
	browser context.Context
	stop    func()
	err     error
}

// chromiumPath finds the browser: POLLEN_CHROMIUM, else chromium on the PATH or in /usr/bin.
func chromiumPath() string {
	if p := os.Getenv("POLLEN_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

func startChromium() {
	path := chromiumPath()
	if path == "" {
		chromium.err = fmt.Errorf("no Chromium: install it (apt-get install -y chromium) or set POLLEN_CHROMIUM")
		return
	}
	dir, err := os.MkdirTemp("", "pollen-chromium-")
	if err != nil {
		chromium.err = err
		return
	}
	alloc, stopAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(dir),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(desktopWidth, desktopHeight))
	browser, stopBrowser := chromedp.NewContext(alloc)
	chromium.browser = browser
	chromium.stop = func() {
		stopBrowser()
		stopAlloc()
		os.RemoveAll(dir)
	}
	chromium.err = chromedp.Do(browser) // starts it
}

// stopChromium ends the shared browser, if a test started it.
func stopChromium() {
	if chromium.stop != nil {
		chromium.stop()
	}
}

const (
	desktopWidth, desktopHeight = 1280, 900
	narrowWidth, narrowHeight   = 390, 844
)

// tab is one browser tab of a test, with its own cookies.
type tab struct {
	t          *testing.T
	ctx        context.Context
	base       string
	mu         sync.Mutex
	exceptions []string
}

// newTab opens a tab in a fresh browser context, or skips the test when there is no Chromium
// (fails when POLLEN_BROWSER_TESTS=require). Uncaught JavaScript exceptions fail the test.
// needBrowser skips the test when no browser can be started (fails it under
// POLLEN_BROWSER_TESTS=require). Tests that start servers before their first tab call it first,
// so that a skip does not cut their set-up short.
func needBrowser(t *testing.T) {
	t.Helper()
	chromium.once.Do(startChromium)
	if chromium.err != nil {
		if os.Getenv("POLLEN_BROWSER_TESTS") == "require" {
			t.Fatalf("browser tests required (POLLEN_BROWSER_TESTS=require): %v", chromium.err)
		}
		t.Skipf("browser tests skipped: %v", chromium.err)
	}
}

func newTab(t *testing.T, base string) *tab {
	t.Helper()
	needBrowser(t)
	ctx, cancel := chromedp.NewContext(chromium.browser, chromedp.WithNewBrowserContext())
	tb := &tab{t: t, ctx: ctx, base: base}
	t.Cleanup(func() {
		cancel()
		tb.mu.Lock()
		defer tb.mu.Unlock()
		for _, e := range tb.exceptions {
			t.Errorf("JavaScript exception in the console: %s", e)
		}
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(desktopWidth, desktopHeight)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil && e.ExceptionDetails.Exception.Description != "" {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			tb.mu.Lock()
			tb.exceptions = append(tb.exceptions, msg)
			tb.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	return tb
}

// do runs actions with a deadline, failing the test on an error.
func (b *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\npage text:\n%s", what, err, b.pageText())
	}
}

// eval evaluates a JavaScript expression and decodes its value.
func evalJS[T any](b *tab, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// waitJS waits until a JavaScript expression is truthy, failing the test with what after 20 s.
// A navigation interrupts the page's polling; it is started again on the new page.
func (b *tab) waitJS(what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithDeadline(b.ctx, deadline.Add(time.Second))
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline))))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waiting until %s: %v\npage text:\n%s", what, err, b.pageText())
		}
		time.Sleep(50 * time.Millisecond) // a navigation under way: let the new page start
	}
}

// pageText is the page's visible text, for failure messages.
func (b *tab) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	if len(s) > 4000 {
		s = s[:4000] + "..."
	}
	return s
}

func (b *tab) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path))
}

// jsString quotes s for JavaScript.
func jsString(s string) string { return fmt.Sprintf("%q", s) }

// findLabelled is JavaScript that returns the form control whose <label> reads text exactly
// (a trailing required mark aside), or null.
func findLabelled(text string) string {
	return `[...document.querySelectorAll('label')].filter(l => l.textContent.replace(/\s+/g, ' ').replace(/\s*\*$/, '').trim() === ` +
		jsString(text) + ` && l.control).map(l => l.control)[0] || null`
}

// field returns a CSS selector for the form control labelled text, waiting until it shows. It
// fails when no <label> with that text names a control: every field has a real label.
func (b *tab) field(label string) chromedp.CSS {
	b.t.Helper()
	b.waitJS("a field labelled "+jsString(label), `(() => { const c = `+findLabelled(label)+`; if (!c) return false;
		if (!c.id) c.id = 'test-' + Math.random().toString(36).slice(2); return true; })()`)
	id := evalJS[string](b, `(`+findLabelled(label)+`).id`)
	return chromedp.CSS("#" + id)
}

// fill types text into the field labelled label, replacing what it held, as a person would.
func (b *tab) fill(label, text string) {
	b.t.Helper()
	sel := b.field(label)
	b.do("focus "+label, chromedp.Focus(sel))
	if evalJS[bool](b, `document.activeElement.value !== ''`) {
		b.do("clear "+label, chromedp.Evaluate[chromedp.Void](`document.activeElement.select()`), chromedp.KeyEvent("\b"))
	}
	b.do("fill "+label, chromedp.SendKeys(sel, text))
}

// button returns a CSS selector for the visible button or link whose accessible name (its
// aria-label, else its text; a disclosure's heading) is name, waiting until it shows.
func (b *tab) button(name string) chromedp.CSS {
	b.t.Helper()
	find := `[...document.querySelectorAll('button, a, summary')].filter(e => e.offsetParent !== null &&
		((e.getAttribute('aria-label') || (e.tagName === 'SUMMARY' && e.querySelector('h2')?.textContent) || e.textContent)
			.replace(/\s+/g, ' ').trim() === ` + jsString(name) + `))[0]`
	b.waitJS("a button "+jsString(name), `(() => { const e = `+find+`; if (!e) return false;
		e.dataset.testTarget = `+jsString(name)+`; return true; })()`)
	return chromedp.CSS(`[data-test-target=` + jsString(name) + `]`)
}

// click clicks the button or link named name with the mouse.
func (b *tab) click(name string) {
	b.t.Helper()
	sel := b.button(name)
	b.do("click "+name, chromedp.Click(sel, chromedp.NodeVisible))
}

// clickLabel clicks the <label> that reads text, as a person clicks a radio button's or a
// switch's label.
func (b *tab) clickLabel(text string) {
	b.t.Helper()
	b.waitJS("a label "+jsString(text), `(() => { const l = [...document.querySelectorAll('label')].find(l => l.textContent.replace(/\s+/g, ' ').trim().startsWith(`+jsString(text)+`));
		if (!l) return false; l.dataset.testTarget = `+jsString("label:"+text)+`; return true; })()`)
	b.do("click the label "+text, chromedp.Click(chromedp.CSS(`[data-test-target=`+jsString("label:"+text)+`]`), chromedp.NodeVisible))
}

// waitText waits until the element sel matches contains text.
func (b *tab) waitText(sel, text string) {
	b.t.Helper()
	b.waitJS(fmt.Sprintf("%s shows %q", sel, text),
		`[...document.querySelectorAll(`+jsString(sel)+`)].some(e => e.textContent.replace(/\s+/g, ' ').includes(`+jsString(text)+`))`)
}

// text returns the text of the first element sel matches.
func (b *tab) text(sel string) string {
	b.t.Helper()
	b.waitJS(sel+" present", `document.querySelector(`+jsString(sel)+`) !== null`)
	return strings.TrimSpace(evalJS[string](b, `document.querySelector(`+jsString(sel)+`).textContent`))
}

// shot writes screenshots of the page, at a desktop and a phone width, to POLLEN_SCREENSHOTS.
func (b *tab) shot(name string) {
	b.t.Helper()
	dir := os.Getenv("POLLEN_SCREENSHOTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	for _, size := range []struct {
		suffix string
		w, h   int64
	}{{"desktop", desktopWidth, desktopHeight}, {"narrow", narrowWidth, narrowHeight}} {
		b.do("resize", chromedp.EmulateViewport(size.w, size.h))
		evalJS[bool](b, `window.scrollTo(0, 0), new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`)
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			b.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-"+size.suffix+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.do("resize", chromedp.EmulateViewport(desktopWidth, desktopHeight))
}
