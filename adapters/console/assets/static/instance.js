// One instance: its configuration (secrets masked by the API), pollers, queued notifications with
// Redeliver, and event history, all refreshing by themselves; an enable/disable switch, Edit, and
// Delete with a confirmation.
import { html, nothing } from './vendor/lit-html/lit-html.js';
import { repeat } from './vendor/lit-html/directives/repeat.js';
import { live } from './vendor/lit-html/directives/live.js';
import { api, get } from './api.js';
import {
  badge, clock, copyButton, intervalMinutes, intervalText, nextPoll, pollerConfig, pollerState, stateBadge,
  statusBadge, timeAgo, toast, typeTag, until,
} from './ui.js';
import { Trial } from './trial.js';

const STATUSES = ['NEW', 'DISPATCHED', 'NOTIFIED', 'FAILED', 'QUEUED', 'CANCELLED'];
const EVENTS_PAGE = 50;
const MASKED = '********';

export class InstancePage {
  constructor(id) {
    this.id = id;
    this.title = `Instance ${id}`;
    this.inst = null;
    this.element = null;
    this.missing = false;
    this.error = '';
    this.events = null;
    this.moreEvents = false;
    this.eventsLimit = EVENTS_PAGE;
    this.filter = { status: '', objectType: '' };
    this.queued = null;
    this.seen = null; // event ids already shown: later ones are highlighted as new
    this.fresh = new Set();
    this.details = new Map(); // event id: 'loading' | detail | Error
    this.showToken = false;
    this.busy = '';
    this.trials = new Map(); // resource: Trial, once tried
  }

  /** The trial of one of the instance's resources, with its configuration as stored. */
  trial(resource) {
    if (!this.trials.has(resource)) this.trials.set(resource, new Trial(this.id, resource, () => this.update()));
    return this.trials.get(resource);
  }

  async load() {
    await this.refresh();
    if (this.inst) {
      this.element = await get(`/elements/${encodeURIComponent(this.inst.element.key)}`).catch(() => null);
      this.update();
    }
  }

  eventsQuery() {
    const q = new URLSearchParams({ pageSize: String(this.eventsLimit) });
    if (this.filter.status) q.set('status', this.filter.status);
    if (this.filter.objectType) q.set('objectType', this.filter.objectType);
    return `/instances/${this.id}/events?${q}`;
  }

  async refresh() {
    if (this.missing) return;
    try {
      const [inst, evs, queued] = await Promise.all([
        get(`/instances/${this.id}`),
        api('GET', this.eventsQuery()),
        get(`/instances/events/queued?instanceId=${this.id}&pageSize=100`),
      ]);
      this.inst = inst;
      this.title = inst.name || `Instance ${this.id}`;
      this.setEvents(evs.data, Boolean(evs.headers.get('Elements-Next-Page-Token')));
      this.queued = queued;
      this.error = '';
    } catch (e) {
      if (e.status === 404) this.missing = true;
      else this.error = e.message;
    }
    this.update();
  }

  setEvents(list, more) {
    if (this.seen) {
      this.fresh = new Set(list.filter((e) => !this.seen.has(e.id)).map((e) => e.id));
    }
    this.seen ||= new Set();
    for (const e of list) this.seen.add(e.id);
    this.events = list;
    this.moreEvents = more;
  }

  async setFilter(k, v) {
    this.filter[k] = v;
    this.eventsLimit = EVENTS_PAGE;
    this.seen = null;
    await this.refresh();
  }

  async toggleEnabled(on) {
    this.busy = 'enabled';
    this.update();
    try {
      const { data } = await api(on ? 'PUT' : 'DELETE', '/instances/enabled', {
        headers: { Authorization: `Element ${this.inst.token}` },
      });
      this.inst = data;
      toast(on ? 'Instance enabled: polling resumes' : 'Instance disabled: nothing is polled or delivered');
    } catch (e) {
      toast(`Could not ${on ? 'enable' : 'disable'} the instance: ${e.message}`, 'bad');
    } finally {
      this.busy = '';
      this.update();
    }
  }

  async redeliver(body, what) {
    try {
      const { data } = body
        ? await api('PUT', '/instances/events/redeliver', { body })
        : await api('PUT', `/instances/${this.id}/events/redeliver`);
      toast(`${what}: ${data.requeued} ${data.requeued === 1 ? 'notification' : 'notifications'} sent again`);
    } catch (e) {
      toast(`Redeliver failed: ${e.message}`, 'bad');
    }
    await this.refresh();
  }

  async remove() {
    this.busy = 'delete';
    this.update();
    try {
      await api('DELETE', `/instances/${this.id}`);
      document.getElementById('delete-dialog')?.close();
      toast(`Instance “${this.inst.name}” deleted`);
      location.hash = '#/instances';
    } catch (e) {
      toast(`Could not delete: ${e.message}`, 'bad');
    } finally {
      this.busy = '';
      this.update();
    }
  }

  async toggleDetail(ev) {
    if (this.details.has(ev.id)) {
      this.details.delete(ev.id);
      this.update();
      return;
    }
    this.details.set(ev.id, 'loading');
    this.update();
    try {
      this.details.set(ev.id, await get(`/instances/events/${encodeURIComponent(ev.id)}`));
    } catch (e) {
      this.details.set(ev.id, e);
    }
    this.update();
  }

  keyName(key) {
    return this.element?.configuration?.find((k) => k.key === key)?.name || '';
  }

  view() {
    if (this.missing) {
      return html`<section class="card narrow center"><h1>No instance ${this.id}</h1>
        <p>It does not exist, or it was deleted.</p><p><a class="btn" href="#/instances">All instances</a></p></section>`;
    }
    const i = this.inst;
    if (!i) return this.error ? html`<p class="alert error" role="alert">${this.error}</p>` : html`<p class="muted">Loading…</p>`;
    return html`
      <div class="page-head">
        <div>
          <p class="crumbs"><a href="#/instances">Instances</a> / #${i.id}</p>
          <h1>${i.name || '(no name)'}</h1>
          <p class="badges">${badge(i.element?.name || i.element?.key, 'info')}
            ${i.disabled ? badge('disabled', 'off') : badge('enabled', 'ok')}
            ${i.eventsEnabled ? badge('events on', 'ok') : badge('events off', 'off')}
            ${i.valid ? nothing : badge('credentials rejected', 'bad')}
            ${(i.tags || []).map((t) => html`<span class="tag">${t}</span>`)}</p>
        </div>
        <div class="actions">
          <div class="switch-field inline">
            <input type="checkbox" role="switch" class="switch" id="inst-enabled" .checked=${live(!i.disabled)}
              ?disabled=${this.busy === 'enabled'} @change=${(e) => this.toggleEnabled(e.target.checked)}>
            <label for="inst-enabled">Enabled</label>
          </div>
          <a class="btn" href="#/instances/${i.id}/edit">Edit</a>
          <button class="btn danger" type="button" @click=${() => document.getElementById('delete-dialog').showModal()}>Delete</button>
        </div>
      </div>
      ${this.error ? html`<p class="alert error" role="alert">Could not refresh: ${this.error}. Retrying…</p>` : nothing}
      <div class="columns">
        <div class="col-main">
          ${this.pollersView(i)}
          ${this.queuedView()}
          ${this.eventsView(i)}
        </div>
        <div class="col-side">${this.detailsView(i)}</div>
      </div>
      ${this.deleteDialog(i)}`;
  }

  pollersView(i) {
    const ps = i.pollers || [];
    const min = intervalMinutes(i);
    return html`<section class="card" aria-labelledby="pollers-title">
      <div class="section-head"><h2 id="pollers-title">Pollers</h2>
        <span class="muted small">${i.eventsEnabled && min > 0 ? `every ${intervalText(min)}` : ''}${i.node ? html` · polled by node <strong id="instance-node">${i.node}</strong>` : nothing}</span></div>
      ${ps.length ? html`<div class="table-wrap"><table class="table compact pollers-table">
        <thead><tr><th scope="col">Resource</th><th scope="col">State</th><th scope="col">Last poll</th>
          <th scope="col">Next poll</th><th scope="col">Notes</th><th scope="col"><span class="visually-hidden">Try</span></th></tr></thead>
        <tbody>${ps.map((p) => {
          const next = nextPoll(p, i);
          return html`<tr>
            <td data-label="Resource"><strong>${p.objectType}</strong></td>
            <td data-label="State">${stateBadge(p)}</td>
            <td data-label="Last poll">${p.state === 'remote' ? html`<span class="muted">on node ${i.node}</span>` : timeAgo(p.lastPoll)}${p.lastPoll ? html` <span class="muted small">· ${p.lastEvents ?? 0} ${p.lastEvents === 1 ? 'event' : 'events'}</span>` : nothing}</td>
            <td data-label="Next poll">${next ? until(next) : pollerState(p) === 'polling' && !p.lastPoll ? 'soon' : html`<span class="muted">—</span>`}</td>
            <td data-label="Notes" class="notes">
              ${p.reason ? html`<div class=${p.state === 'remote' ? 'muted' : 'warn-text'}>${p.reason}</div>` : nothing}
              ${p.lastError ? html`<div class="bad-text">${p.lastError}</div>` : nothing}
              ${p.lastGap ? html`<div class="warn-text">gap: ${p.lastGap}</div>` : nothing}
              ${!p.reason && !p.lastError && !p.lastGap ? html`<span class="muted">—</span>` : nothing}
            </td>
            <td class="action">${this.trial(p.objectType).button()}</td></tr>`;
        })}</tbody></table></div>
        ${ps.map((p) => this.trials.get(p.objectType)?.view() ?? nothing)}`
        : html`<p class="muted">${i.eventsEnabled ? 'No poller is running.' : 'Events are off: nothing is polled. Edit the instance to switch them on.'}</p>`}
    </section>`;
  }

  queuedView() {
    const q = this.queued || [];
    return html`<section class="card" aria-labelledby="queued-title">
      <div class="section-head"><h2 id="queued-title">Queued notifications ${q.length ? badge(String(q.length), 'warn') : nothing}</h2>
        ${q.length > 1 ? html`<button class="btn small" type="button" @click=${() => this.redeliver(null, 'Redeliver all')}>Redeliver all</button>` : nothing}</div>
      ${q.length ? html`<p class="hint">Delivery gave up on these after its retries; later notifications of this instance wait behind them.</p>
        <div class="table-wrap"><table class="table compact queued-table">
        <thead><tr><th scope="col">Notification</th><th scope="col">Queued</th>
          <th scope="col">Attempts</th><th scope="col">Last error</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
        <tbody>${repeat(q, (n) => n.id, (n) => html`<tr>
          <td data-label="Notification"><code title=${n.id}>${short(n.id)}</code>
            <div class="muted small">${n.objectType} · ${n.eventIds.length} ${n.eventIds.length === 1 ? 'event' : 'events'}</div></td>
          <td data-label="Queued">${timeAgo(n.createdDate)}</td>
          <td data-label="Attempts">${n.attempts}</td>
          <td data-label="Last error" class="bad-text">${n.lastError || '—'}</td>
          <td class="action"><button class="btn small" type="button" aria-label="Redeliver notification ${short(n.id)}"
            @click=${() => this.redeliver({ notificationId: n.id }, 'Redeliver')}>Redeliver</button></td></tr>`)}</tbody></table></div>`
        : html`<p class="muted">None: every notification was delivered or is on its way.</p>`}
    </section>`;
  }

  detailsView(i) {
    const conf = Object.entries(i.configuration || {}).filter(([k]) => k !== 'event.poller.configuration')
      .sort(([a], [b]) => a.localeCompare(b));
    const pc = pollerConfig(i);
    const tok = i.token || '';
    return html`<section class="card" aria-labelledby="details-title">
      <h2 id="details-title">Instance</h2>
      <dl class="keyvals">
        <div><dt>ID</dt><dd><code id="instance-id">${i.id}</code>${copyButton(String(i.id), 'Copy ID')}</dd></div>
        <div><dt>Token</dt><dd><code id="instance-token" class="token">${this.showToken ? tok : `${'•'.repeat(8)}${tok.slice(-4)}`}</code>
          <button class="btn small ghost" type="button" aria-pressed=${this.showToken ? 'true' : 'false'}
            @click=${() => { this.showToken = !this.showToken; this.update(); }}>${this.showToken ? 'Hide' : 'Show'}</button>
          ${copyButton(tok, 'Copy Token')}</dd></div>
        <div><dt>Element</dt><dd>${i.element?.name} <span class="muted">(${i.element?.key})</span></dd></div>
        <div><dt>Created</dt><dd>${new Date(i.createdDate).toLocaleString()}</dd></div>
        ${i.node ? html`<div><dt>Polled by node</dt><dd><code>${i.node}</code></dd></div>` : nothing}
      </dl>
      <h3>Configuration</h3>
      <dl class="keyvals config">
        ${conf.map(([k, v]) => html`<div><dt>${this.keyName(k) || breakable(k)}${this.keyName(k) ? html`<code class="key">${breakable(k)}</code>` : nothing}</dt>
          <dd class=${v === MASKED ? 'masked' : ''}>${v === MASKED ? html`<span title="Secret: never shown">${v}</span>` : v || html`<span class="muted">(empty)</span>`}</dd></div>`)}
      </dl>
      ${Object.keys(pc).length ? html`<h3>Poller configuration</h3>
        ${Object.entries(pc).map(([name, c]) => html`<details class="json">
          <summary>${name} ${Object.keys(c).length ? nothing : html`<span class="muted small">· the definition's default</span>`}</summary>
          <pre><code>${JSON.stringify(c, null, 2)}</code></pre></details>`)}` : nothing}
    </section>`;
  }

  eventsView(i) {
    const evs = this.events || [];
    const groups = [];
    for (const e of evs) {
      const g = groups[groups.length - 1];
      if (g && g.id === e.notificationId) g.events.push(e);
      else groups.push({ id: e.notificationId, events: [e] });
    }
    const resources = (i.pollers || []).map((p) => p.objectType);
    return html`<section class="card" aria-labelledby="events-title">
      <div class="section-head wrap">
        <h2 id="events-title">Event history <span class="live" title="Updates by itself">live</span></h2>
        <div class="filters">
          <div class="field inline"><label for="ev-status">Status</label>
            <select id="ev-status" @change=${(e) => this.setFilter('status', e.target.value)}>
              <option value="">All</option>${STATUSES.map((s) => html`<option ?selected=${this.filter.status === s}>${s}</option>`)}</select></div>
          <div class="field inline"><label for="ev-type">Resource</label>
            <select id="ev-type" @change=${(e) => this.setFilter('objectType', e.target.value)}>
              <option value="">All</option>${resources.map((r) => html`<option ?selected=${this.filter.objectType === r}>${r}</option>`)}</select></div>
        </div>
      </div>
      ${evs.length ? html`<div class="table-wrap"><table class="table compact events-table">
        <thead><tr><th scope="col">Found</th><th scope="col">Type</th><th scope="col">Resource</th><th scope="col">Object</th>
          <th scope="col">Changed at</th><th scope="col">Status</th><th scope="col"><span class="visually-hidden">Details</span></th></tr></thead>
        ${repeat(groups, (g, n) => `${g.id}:${n}`, (g) => html`<tbody class="notification">
          <tr class="group"><th colspan="7" scope="rowgroup">Notification <code title=${g.id}>${short(g.id)}</code>
            · ${g.events.length} ${g.events.length === 1 ? 'event' : 'events'} ${statusBadge(g.events[0].status)}</th></tr>
          ${g.events.map((e) => this.eventRow(e))}
        </tbody>`)}
      </table></div>
      ${this.moreEvents ? html`<p class="center"><button class="btn" type="button"
        @click=${() => { this.eventsLimit = Math.min(500, this.eventsLimit + EVENTS_PAGE); this.refresh(); }}>Show older events</button></p>` : nothing}`
        : html`<p class="muted">${this.events === null ? 'Loading…' : this.filter.status || this.filter.objectType
          ? 'No event matches these filters.' : 'No events yet. They appear here as soon as a poll finds a change.'}</p>`}
    </section>`;
  }

  eventRow(e) {
    const d = this.details.get(e.id);
    return html`<tr class="event ${this.fresh.has(e.id) ? 'fresh' : ''}" data-event=${e.id}>
      <td data-label="Found">${timeAgo(e.pollDate)}</td>
      <td data-label="Type">${typeTag(e.eventType)}</td>
      <td data-label="Resource">${e.objectType}</td>
      <td data-label="Object"><code>${e.objectId}</code></td>
      <td data-label="Changed at">${clock(e.eventDate)}</td>
      <td data-label="Status">${statusBadge(e.status)}</td>
      <td><button class="btn small ghost" type="button" aria-expanded=${d ? 'true' : 'false'}
        aria-label="Details of ${e.eventType} ${e.objectType} ${e.objectId}" @click=${() => this.toggleDetail(e)}>${d ? 'Hide' : 'Details'}</button></td>
    </tr>
    ${d ? html`<tr class="event-detail"><td colspan="7">${this.detailView(e, d)}</td></tr>` : nothing}`;
  }

  detailView(e, d) {
    if (d === 'loading') return html`<span class="muted">Loading…</span>`;
    if (d instanceof Error) return html`<span class="bad-text">${d.message}</span>`;
    return html`<div class="detail">
      <p><span class="muted">Event id</span> <code>${e.id}</code> ${copyButton(e.id, 'Copy event id')}
        <span class="muted">· notification</span> <code>${e.notificationId}</code></p>
      ${d.attempts.length ? html`<ol class="attempts">${d.attempts.map((a) => html`<li>
          ${clock(a.at)} · ${statusBadge(a.status)} ${a.httpStatus ? html`<code>HTTP ${a.httpStatus}</code>` : nothing}
          ${a.error ? html`<span class="bad-text">${a.error}</span>` : nothing}</li>`)}</ol>`
        : html`<p class="muted">Not attempted yet.</p>`}
      ${e.status === 'QUEUED' ? html`<button class="btn small" type="button"
        @click=${() => this.redeliver({ eventId: e.id }, 'Redeliver')}>Redeliver its notification</button>` : nothing}
    </div>`;
  }

  deleteDialog(i) {
    return html`<dialog id="delete-dialog" aria-labelledby="delete-title" class="dialog">
      <form method="dialog">
        <h2 id="delete-title">Delete “${i.name}”?</h2>
        <p>Polling stops at once and the notifications not yet delivered are cancelled. The event history stays
          for its retention time. This cannot be undone.</p>
        <div class="form-actions">
          <button class="btn danger" type="button" ?disabled=${this.busy === 'delete'} @click=${() => this.remove()}>
            ${this.busy === 'delete' ? 'Deleting…' : 'Delete instance'}</button>
          <button class="btn ghost" value="cancel" autofocus>Cancel</button>
        </div>
      </form>
    </dialog>`;
  }
}

/** A configuration key that may wrap after its dots, never inside a word. */
const breakable = (key) => key.split('.').map((part, i) => (i ? html`.<wbr>${part}` : part));

const short = (id) => (id && id.length > 12 ? `${id.slice(0, 8)}…` : id);
