// The Try button of a resource's poller configuration: one poll of the last hour that commits
// nothing (POST /instances/{id}/pollers/{resource}/try), shown as pollen try prints it: every
// vendor request, every record's verdict and why, what the pages show against the definition,
// the cursor the poll would move to and the notifications it would send.
import { html, nothing } from './vendor/lit-html/lit-html.js';
import { api } from './api.js';
import { badge, clock, typeTag } from './ui.js';

const VERDICTS = {
  below: ['below the window', 'off'],
  above: ['above the window', 'off'],
  seen: ['already seen', 'off'],
  filtered: ['filtered', 'warn'],
  unreadable: ['unreadable', 'bad'],
  skipped: ['skipped', 'off'],
};

export class Trial {
  /** A trial of one resource of an instance; update re-renders the page that shows it. */
  constructor(instanceId, resource, update) {
    this.id = instanceId;
    this.resource = resource;
    this.update = update;
    this.running = false;
    this.result = null; // the API's answer
    this.error = null; // an APIError
  }

  /** Runs the trial, with configuration (an object) when given: the one being edited. */
  async run(configuration) {
    this.running = true;
    this.error = null;
    this.update();
    try {
      const body = configuration === undefined ? { since: '1h' } : { configuration, since: '1h' };
      const { data } = await api('POST', `/instances/${this.id}/pollers/${encodeURIComponent(this.resource)}/try`, { body });
      this.result = data;
    } catch (e) {
      this.result = null;
      this.error = e;
    } finally {
      this.running = false;
      this.update();
    }
  }

  /** The button; configuration() returns what to try, or throws to say why it cannot. */
  button(configuration) {
    const click = () => {
      let conf;
      try {
        conf = configuration ? configuration() : undefined;
      } catch (e) {
        this.error = e;
        this.result = null;
        this.update();
        return;
      }
      this.run(conf);
    };
    return html`<button type="button" class="btn small" ?disabled=${this.running} aria-label="Try ${this.resource}"
      title="Run one poll of the last hour that commits nothing, and see every record's verdict" @click=${click}>
      ${this.running ? 'Trying…' : 'Try'}</button>`;
  }

  view() {
    if (this.running && !this.result) return html`<p class="muted trial-status" role="status">Polling the vendor…</p>`;
    if (this.error) {
      const probs = this.error.problems || [];
      return html`<div class="alert error trial" role="alert"><strong>The trial did not run:</strong> ${this.error.message}
        ${probs.length ? html`<ul>${probs.map((p) => html`<li><code>${p.pointer || '/'}</code> ${p.message}</li>`)}</ul>` : nothing}</div>`;
    }
    const t = this.result;
    if (!t) return nothing;
    const events = t.notifications.reduce((n, x) => n + x.eventIds.length, 0);
    return html`<section class="trial" aria-label="Trial of ${t.resource}" aria-live="polite">
      <p class="trial-head"><strong>Trial of ${t.resource}</strong>: the last hour, at ${clock(t.now)}; nothing was committed.
        ${summary(t.verdicts)}</p>
      ${t.error ? html`<p class="alert error" role="alert">The poll failed: ${t.error}</p>` : nothing}
      ${t.findings.length ? html`<div class="alert error trial-findings"><strong>What the pages show against the definition</strong>
        <ul>${t.findings.map((f) => html`<li><span class="muted">${f.in}</span> <code>${f.pointer}</code>: ${f.message}</li>`)}</ul></div>` : nothing}
      ${t.held ? html`<p class="warn-text">Held: ${t.held}</p>` : nothing}
      ${(t.notes || []).map((n) => html`<p class="muted small">${n}</p>`)}
      ${(t.gaps || []).map((g) => html`<p class="warn-text">Gap: ${g}</p>`)}
      ${t.stopped ? html`<p class="warn-text">Stopped early: ${t.stopped}</p>` : nothing}
      <div class="table-wrap"><table class="table compact trial-table">
        <thead><tr><th scope="col">Record</th><th scope="col">Verdict</th><th scope="col">Updated</th><th scope="col">Why</th></tr></thead>
        ${t.requests.map((r, i) => html`<tbody class="request">
          <tr class="group"><th colspan="4" scope="rowgroup">page ${i + 1}: <code>GET ${r.url}</code>
            <span class="muted"> · ${r.error ? html`<span class="bad-text">${r.error}</span>`
              : html`${r.status} · ${r.records < 0 ? 'no array of records' : `${r.records} ${r.records === 1 ? 'record' : 'records'}`}`} · ${Math.round(r.durationMs)} ms</span></th></tr>
          ${t.records.filter((x) => x.request === i).map((x) => html`<tr class="verdict" data-verdict=${x.verdict}>
            <td data-label="Record"><code>${x.id}</code>${x.stream !== 'changes' ? html` <span class="muted small">${x.stream}</span>` : nothing}</td>
            <td data-label="Verdict">${verdict(x)}</td>
            <td data-label="Updated">${x.updated ? clock(x.updated) : html`<span class="muted">—</span>`}</td>
            <td data-label="Why" class="reason">${x.reason || html`<span class="muted">—</span>`}</td></tr>`)}
        </tbody>`)}
      </table></div>
      ${t.requests.length ? nothing : html`<p class="muted">No vendor request was made.</p>`}
      <p class="muted small">Cursor it would move to: ${cursor(t.cursor)} · notifications it would send: ${t.notifications.length}
        (${events} ${events === 1 ? 'event' : 'events'})</p>
    </section>`;
  }
}

function verdict(x) {
  if (x.verdict === 'event') return typeTag(x.type);
  const [text, kind] = VERDICTS[x.verdict] || [x.verdict, 'off'];
  return badge(text, kind);
}

function summary(v) {
  const parts = ['event', 'seen', 'below', 'above', 'filtered', 'unreadable', 'skipped']
    .filter((k) => v[k]).map((k) => `${v[k]} ${k === 'event' ? (v[k] === 1 ? 'event' : 'events') : (VERDICTS[k]?.[0] || k)}`);
  return parts.length ? parts.join(', ') + '.' : 'No records in the window.';
}

function cursor(c) {
  const names = Object.keys(c?.streams || {}).sort();
  if (!names.length) return 'none (nothing read)';
  return names.map((n) => `${n} since ${clock(c.streams[n].since)}`).join('; ');
}
