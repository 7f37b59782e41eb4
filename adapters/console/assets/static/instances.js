// The instances list: every instance with its element, tags, events switch and, per resource, the
// poller's state, last and next poll, last error and gaps. It refreshes itself.
import { html, nothing } from './vendor/lit-html/lit-html.js';
import { repeat } from './vendor/lit-html/directives/repeat.js';
import { get } from './api.js';
import { badge, intervalMinutes, intervalText, nextPoll, pollerState, stateBadge, timeAgo, until } from './ui.js';

const PAGE = 50;

export class InstancesPage {
  constructor() {
    this.title = 'Instances';
    this.items = null;
    this.error = '';
    this.filter = '';
    this.limit = PAGE;
  }

  async load() { await this.refresh(); }

  async refresh() {
    try {
      this.items = await get('/instances');
      this.error = '';
    } catch (e) {
      this.error = e.message;
    }
    this.update();
  }

  matches(inst) {
    const q = this.filter.trim().toLowerCase();
    if (!q) return true;
    const hay = [inst.name, String(inst.id), inst.element?.name, inst.element?.key, ...(inst.tags || [])]
      .join(' ').toLowerCase();
    return q.split(/\s+/).every((w) => hay.includes(w));
  }

  view() {
    const all = this.items || [];
    const shown = all.filter((i) => this.matches(i));
    const failing = all.filter((i) => !i.valid || (i.pollers || []).some((p) => pollerState(p) === 'failing')).length;
    return html`
      <div class="page-head">
        <div>
          <h1>Instances</h1>
          <p class="muted" id="instances-summary">${this.items === null ? 'Loading…' : html`
            ${all.length} ${all.length === 1 ? 'instance' : 'instances'}${failing ? html` · <span class="text-bad">${failing} failing</span>` : nothing}
            · refreshes by itself`}</p>
        </div>
        <div class="actions">
          ${all.length > 5 ? html`
            <label class="visually-hidden" for="instance-filter">Filter instances</label>
            <input id="instance-filter" type="search" placeholder="Filter by name, tag, element…"
              .value=${this.filter} @input=${(e) => { this.filter = e.target.value; this.limit = PAGE; this.update(); }}>` : nothing}
          <a class="btn primary" href="#/new">New instance</a>
        </div>
      </div>
      ${this.error ? html`<p class="alert error" role="alert">Could not refresh: ${this.error}. Retrying…</p>` : nothing}
      ${this.items !== null && all.length === 0 ? html`
        <section class="card empty">
          <h2>No instances yet</h2>
          <p>An instance connects one helpdesk account: Pollen polls it and posts signed events to your callback URL.</p>
          <p><a class="btn primary" href="#/new">Create an instance</a></p>
        </section>` : nothing}
      ${shown.length ? html`
        <table class="table instances-table">
          <thead><tr><th scope="col">Name</th><th scope="col">Element</th><th scope="col">Tags</th>
            <th scope="col">Events</th><th scope="col">Resources</th></tr></thead>
          <tbody>${repeat(shown.slice(0, this.limit), (i) => i.id, (i) => row(i))}</tbody>
        </table>
        ${shown.length > this.limit ? html`<p class="center"><button class="btn" @click=${() => { this.limit += PAGE; this.update(); }}>
          Show more (${shown.length - this.limit} left)</button></p>` : nothing}` : nothing}
      ${this.items !== null && all.length > 0 && shown.length === 0 ? html`<p class="muted">No instance matches “${this.filter}”.</p>` : nothing}`;
  }
}

function row(inst) {
  const min = intervalMinutes(inst);
  return html`<tr data-instance=${inst.id}>
    <td data-label="Name">
      <a class="strong" href="#/instances/${inst.id}">${inst.name || '(no name)'}</a>
      <span class="muted small">#${inst.id}</span>
      ${inst.disabled ? badge('disabled', 'off') : nothing}
      ${inst.valid ? nothing : badge('credentials rejected', 'bad')}
    </td>
    <td data-label="Element">${inst.element?.name || inst.element?.key}</td>
    <td data-label="Tags">${(inst.tags || []).length ? inst.tags.map((t) => html`<span class="tag">${t}</span>`) : html`<span class="muted">—</span>`}</td>
    <td data-label="Events">${inst.eventsEnabled ? badge('on', 'ok') : badge('off', 'off')}
      ${inst.eventsEnabled && min > 0 ? html`<div class="muted small">every ${intervalText(min)}</div>` : nothing}</td>
    <td data-label="Resources">${(inst.pollers || []).length
      ? html`<ul class="pollers">${inst.pollers.map((p) => pollerLine(p, inst))}</ul>`
      : html`<span class="muted">${inst.eventsEnabled ? 'not running' : 'none polled'}</span>`}
      ${inst.node ? html`<div class="muted small">node ${inst.node}</div>` : nothing}</td>
  </tr>`;
}

function pollerLine(p, inst) {
  const next = nextPoll(p, inst);
  return html`<li class="poller">
    <span class="res">${p.objectType}</span>
    ${stateBadge(p)}
    ${p.state === 'remote' ? html`<span class="when muted">polled on node ${inst.node}</span>` : html`<span class="when">last ${timeAgo(p.lastPoll)}${p.lastEvents ? html` · ${p.lastEvents} ${p.lastEvents === 1 ? 'event' : 'events'}` : nothing}</span>`}
    <span class="when">${next ? (next > Date.now() ? `next ${until(next)}` : until(next)) : p.lastPoll ? '' : pollerState(p) === 'polling' ? 'first poll soon' : ''}</span>
    ${p.state === 'paused' && p.reason ? html`<span class="why warn-text">${p.reason}</span>` : nothing}
    ${p.lastError ? html`<span class="why bad-text" title=${p.lastError}>${p.lastError}</span>` : nothing}
    ${p.lastGap ? html`<span class="why warn-text" title=${p.lastGap}>gap: ${p.lastGap}</span>` : nothing}
  </li>`;
}
