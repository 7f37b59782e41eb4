// The console's entry point: a hash router over the pages, and the loop that keeps live pages
// fresh. Pages are objects with view() (a lit-html template), an optional async load() called
// once, an optional async refresh() called every REFRESH_MS or so while the tab is visible, and an
// optional stop().
import { html, render } from './vendor/lit-html/lit-html.js';
import { whenSignedOut } from './api.js';
import { InstancesPage } from './instances.js';
import { InstancePage } from './instance.js';
import { InstanceFormPage } from './form.js';
import { DefinitionsPage } from './definitions.js';

const REFRESH_MS = 2000;
const root = document.getElementById('app');
root.textContent = ''; // the "Loading…" shown until this module runs

const routes = [
  { re: /^#\/instances\/(\d+)\/edit$/, nav: 'instances', make: (m) => new InstanceFormPage({ id: m[1] }) },
  { re: /^#\/instances\/(\d+)$/, nav: 'instances', make: (m) => new InstancePage(m[1]) },
  { re: /^#\/instances$/, nav: 'instances', make: () => new InstancesPage() },
  { re: /^#\/new$/, nav: 'new', make: () => new InstanceFormPage({}) },
  { re: /^#\/definitions$/, nav: 'definitions', make: () => new DefinitionsPage() },
];

let page = null;
let signedOut = false;

/** Renders the current page; pages call it (through their update()) whenever their state changes. */
function draw(p) {
  if (p !== page || signedOut) return;
  render(p.view(), root);
  document.title = p.title ? `${p.title} · Pollen` : 'Pollen';
}

async function route() {
  if (signedOut) return;
  const hash = location.hash || '#/instances';
  const r = routes.find((x) => x.re.test(hash));
  if (!r) {
    location.replace('#/instances');
    return;
  }
  page?.stop?.();
  const p = r.make(hash.match(r.re));
  p.update = () => draw(p);
  page = p;
  for (const a of document.querySelectorAll('.mainnav a')) {
    if (a.dataset.nav === r.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  window.scrollTo(0, 0);
  draw(p);
  root.focus({ preventScroll: true });
  try {
    await p.load?.();
  } finally {
    draw(p);
  }
}

// The refresh loop: every REFRESH_MS, or ten times as long as the last refresh took when that is
// longer, so that a server with thousands of instances is not kept busy by one open tab.
let refreshing = false;
let timer = null;
function schedule(delay = REFRESH_MS) {
  clearTimeout(timer);
  timer = setTimeout(tick, delay);
}
async function tick() {
  if (refreshing || signedOut) return;
  if (document.hidden || !page?.refresh) {
    schedule();
    return;
  }
  const p = page;
  refreshing = true;
  const start = performance.now();
  try {
    await p.refresh();
  } catch {
    // A failed refresh is shown by the page itself and tried again on the next tick.
  } finally {
    refreshing = false;
    draw(p);
    schedule(Math.max(REFRESH_MS, 10 * (performance.now() - start)));
  }
}

whenSignedOut(() => {
  if (signedOut) return;
  signedOut = true;
  page?.stop?.();
  render(html`<section class="card narrow center">
      <h1>Your session has ended</h1>
      <p>Sign in again to go on. Nothing you saved is lost.</p>
      <p><a class="btn primary" href="/">Sign in</a></p>
    </section>`, root);
  document.title = 'Signed out · Pollen';
});

window.addEventListener('hashchange', route);
document.addEventListener('visibilitychange', () => { if (!document.hidden) tick(); });
schedule();
route();
