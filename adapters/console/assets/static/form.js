// The instance form, for creating an instance (the steps and labels of the platform's "Configure
// Polling Through the UI") and for editing one. Fields come from the element's definition
// (GET /elements): its authentication fields under the names it gives them, the event keys, the
// resources to poll with their poller configuration as JSON, tags and name. The API's 400 lists
// every problem with its JSON pointer; each is shown next to its field, and all of them above the
// form. Poller configurations and the interval are checked as they are typed, through
// POST /console/check, which loads the body exactly as POST /instances would.
import { html, nothing } from './vendor/lit-html/lit-html.js';
import { live } from './vendor/lit-html/directives/live.js';
import { api, get } from './api.js';
import { copyButton, fieldErrors, intervalText, pollerConfig, ptrToken, toast } from './ui.js';
import { Trial } from './trial.js';

const K = {
  enabled: 'event.notification.enabled',
  callback: 'event.notification.callback.url',
  signature: 'event.notification.signature.key',
  interval: 'event.poller.refresh_interval',
  pollers: 'event.poller.configuration',
};
const EVENT_KEYS = new Set(Object.values(K));
const MASKED = '********';

/** The id of a configuration key's input. */
const fid = (key) => `f-cfg-${key.replace(/[^A-Za-z0-9]+/g, '-')}`;
const resId = (name) => `f-res-${name.replace(/[^A-Za-z0-9]+/g, '-')}`;
const errId = (id) => `${id}-errors`;
const unescapePtr = (s) => s.replaceAll('~1', '/').replaceAll('~0', '~');

const pencil = html`<svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true"><path fill="currentColor"
  d="M14.7 2.3a1 1 0 0 1 1.4 0l1.6 1.6a1 1 0 0 1 0 1.4L7.4 15.6l-3.9.9.9-3.9L14.7 2.3zM5.9 13.4l-.3 1.2 1.2-.3 8.8-8.8-.9-.9-8.8 8.8z"/></svg>`;

export class InstanceFormPage {
  constructor({ id }) {
    this.id = id || null;
    this.editing = Boolean(id);
    this.title = this.editing ? 'Edit instance' : 'Create an instance';
    this.elements = null;
    this.loadError = '';
    this.inst = null;
    this.el = null;
    this.name = '';
    this.tags = [];
    this.tagDraft = '';
    this.knownTags = [];
    this.values = {};
    this.eventsEnabled = false;
    this.res = {};
    this.errors = {}; // field id: messages, from the last submit
    this.live = {}; // field id: messages, from checking as one types
    this.summary = null; // {title, items: [{id, label, message}]}
    this.submitting = false;
    this.created = null;
    this.timers = {};
    this.seq = 0;
    this.trials = {}; // resource: Trial, once tried (an instance being edited)
  }

  stop() { Object.values(this.timers).forEach(clearTimeout); }

  async load() {
    try {
      const [elements, instances] = await Promise.all([get('/elements'), get('/instances').catch(() => [])]);
      this.elements = elements;
      this.knownTags = [...new Set(instances.flatMap((i) => i.tags || []))].sort();
      if (this.editing) {
        this.inst = await get(`/instances/${this.id}`);
        this.title = `Edit ${this.inst.name || `instance ${this.id}`}`;
        const el = elements.find((e) => e.key === this.inst.element?.key);
        if (!el) throw new Error(`element ${this.inst.element?.key} is not loaded`);
        this.pick(el, this.inst);
      } else if (elements.length === 1) {
        this.pick(elements[0]);
      }
    } catch (e) {
      this.loadError = e.message;
    }
    this.update();
  }

  /** Chooses the element and sets every field from its defaults, or from the instance edited. */
  pick(el, inst) {
    this.el = el;
    this.errors = {};
    this.live = {};
    this.summary = null;
    const conf = inst?.configuration || {};
    this.values = {};
    for (const k of el.configuration) {
      if (k.key === K.pollers || k.key === K.enabled) continue;
      const v = conf[k.key];
      if (v === undefined || v === MASKED || (k.secret && inst)) this.values[k.key] = '';
      else this.values[k.key] = v;
    }
    if (!inst) this.values[K.interval] = String(el.events?.refreshInterval || 15);
    this.eventsEnabled = inst ? Boolean(inst.eventsEnabled) : false;
    this.name = inst?.name || '';
    this.tags = [...(inst?.tags || [])];
    const stored = inst ? pollerConfig(inst) : null;
    this.res = {};
    for (const r of el.resources) {
      const def = pretty(r.defaultPollerConfiguration || {});
      const own = stored?.[r.name];
      const text = own && Object.keys(own).length ? pretty(own) : def;
      this.res[r.name] = {
        selected: stored ? r.name in stored : (el.events?.defaultResources || []).includes(r.name),
        open: false, text, def, parseError: '', checking: false, checked: false,
      };
    }
  }

  // ---- the fields a form shows, by section

  basicKeys() {
    return this.el.configuration.filter((k) => !EVENT_KEYS.has(k.key) && !k.key.startsWith('event.') && k.required && !k.hidden);
  }

  moreKeys() {
    const basic = new Set(this.basicKeys().map((k) => k.key));
    return this.el.configuration.filter((k) => !EVENT_KEYS.has(k.key) && !basic.has(k.key));
  }

  keyName(key) { return this.el?.configuration.find((k) => k.key === key)?.name || key; }

  // ---- problems

  /** The id of the field a JSON pointer of the API's 400 points into; null for none. */
  fieldFor(ptr) {
    if (ptr === '/name') return 'f-name';
    if (ptr === '/tags' || ptr.startsWith('/tags/')) return 'f-tags';
    if (ptr === '/element' || ptr.startsWith('/element/')) return 'f-element';
    const m = ptr.match(/^\/configuration\/([^/]+)(\/.*)?$/);
    if (!m) return null;
    const key = unescapePtr(m[1]);
    if (key === K.pollers) {
      const sub = m[2]?.split('/')[1];
      const name = sub === undefined ? undefined : unescapePtr(sub);
      return name !== undefined && this.res[name] ? resId(name) : 'f-resources';
    }
    if (key === K.enabled) return fid(K.enabled);
    if (this.el?.configuration.some((k) => k.key === key)) {
      if (EVENT_KEYS.has(key) && !this.eventsEnabled) return null;
      return fid(key);
    }
    return null;
  }

  labelFor(id) {
    if (id === 'f-name') return 'Name';
    if (id === 'f-tags') return 'Tags';
    if (id === 'f-element') return 'Element';
    if (id === 'f-resources') return 'Select the resources to poll';
    const r = Object.keys(this.res).find((n) => resId(n) === id);
    if (r) return `Resource ${r}`;
    const k = this.el?.configuration.find((c) => fid(c.key) === id);
    return k ? (k.name || k.key) : '';
  }

  /** A problem's message as shown next to its field: a resource's own part of the pointer first. */
  message(p, id) {
    const r = Object.keys(this.res).find((n) => resId(n) === id);
    if (r) {
      const rest = p.pointer.slice(`/configuration/${K.pollers}/${ptrToken(r)}`.length);
      return rest ? `${rest}: ${p.message}` : p.message;
    }
    return p.message;
  }

  showProblems(title, problems) {
    this.errors = {};
    const items = [];
    for (const p of problems) {
      const id = this.fieldFor(p.pointer || '');
      if (id) (this.errors[id] ||= []).push(this.message(p, id));
      const r = Object.keys(this.res).find((n) => resId(n) === id);
      if (r) this.res[r].open = true;
      items.push({ id, label: id ? this.labelFor(id) : (p.pointer || 'Instance'), message: id ? this.message(p, id) : p.message });
    }
    this.summary = { title, items };
  }

  msgs(id) { return this.errors[id]?.length ? this.errors[id] : this.live[id]; }

  invalid(id) { return this.msgs(id)?.length ? 'true' : 'false'; }

  /** Forgets the submit's problems of a field the person is changing. */
  touched(id) {
    if (this.errors[id]) delete this.errors[id];
  }

  /** Checks a piece of the body as it is typed: the problems POST /instances would report at prefix. */
  checkSoon(id, prefix, configuration, delay = 350, r = null) {
    clearTimeout(this.timers[id]);
    this.timers[id] = setTimeout(async () => {
      const seq = ++this.seq;
      this.timers[id + ':seq'] = seq;
      if (r) { r.checking = true; this.update(); }
      try {
        const { data } = await api('POST', '/console/check', {
          body: { element: { key: this.el.key }, name: 'check', configuration },
        });
        if (this.timers[id + ':seq'] !== seq) return;
        const mine = (data.problems || []).filter((p) => p.pointer === prefix || p.pointer.startsWith(prefix + '/'));
        this.live[id] = mine.map((p) => this.message(p, id));
        if (r) r.checked = true;
      } catch {
        delete this.live[id];
      } finally {
        if (r && this.timers[id + ':seq'] === seq) r.checking = false;
        this.update();
      }
    }, delay);
  }

  // ---- events of the fields

  setValue(key, v) {
    this.values[key] = v;
    this.touched(fid(key));
    if (key === K.interval) {
      this.checkSoon(fid(key), `/configuration/${ptrToken(key)}`, { [key]: v });
    }
    this.update();
  }

  editResource(name, text) {
    const r = this.res[name];
    r.text = text;
    r.selected = true;
    this.touched(resId(name));
    this.checkResource(name);
    this.update();
  }

  checkResource(name) {
    const r = this.res[name];
    const id = resId(name);
    let obj;
    try {
      obj = JSON.parse(r.text);
      r.parseError = obj && typeof obj === 'object' && !Array.isArray(obj) ? '' : 'must be a JSON object: { ... }';
    } catch (e) {
      r.parseError = `not valid JSON: ${e.message}`;
    }
    if (r.parseError) {
      clearTimeout(this.timers[id]);
      this.live[id] = [];
      r.checked = false;
      return;
    }
    this.checkSoon(id, `/configuration/${ptrToken(K.pollers)}/${ptrToken(name)}`, { [K.pollers]: { [name]: obj } }, 250, r);
  }

  /** The Try button of a resource's editor: the configuration as typed, tried on the instance. */
  trial(name) {
    this.trials[name] ||= new Trial(this.id, name, () => this.update());
    return this.trials[name];
  }

  /** What a trial of a resource sends: its configuration as typed, or why it cannot be tried. */
  trialConfiguration(name) {
    const r = this.res[name];
    if (r.parseError) throw new Error(`the poller configuration is ${r.parseError}`);
    return JSON.parse(r.text);
  }

  toggleEditor(name) {
    const r = this.res[name];
    r.open = !r.open;
    if (r.open && !r.checked) this.checkResource(name);
    this.update();
    if (r.open) requestAnimationFrame(() => document.getElementById(resId(name))?.focus());
  }

  addTag(text) {
    for (const t of text.split(',').map((s) => s.trim()).filter(Boolean)) {
      if (!this.tags.includes(t)) this.tags.push(t);
    }
    this.tagDraft = '';
    this.touched('f-tags');
    this.update();
  }

  tagKey(e) {
    if (e.key === 'Enter' || e.key === ',') {
      e.preventDefault();
      this.addTag(e.target.value);
      e.target.value = '';
    } else if (e.key === 'Backspace' && !e.target.value && this.tags.length) {
      this.tags.pop();
      this.update();
    }
  }

  // ---- the body

  /** The poller configuration of the selected resources: {} for one left as its definition has it. */
  pollerBody() {
    const out = {};
    for (const [name, r] of Object.entries(this.res)) {
      if (!r.selected) continue;
      out[name] = r.text.trim() === r.def.trim() ? {} : JSON.parse(r.text);
    }
    return out;
  }

  typed(k) {
    const v = this.values[k.key];
    if (v === undefined || v === null) return undefined;
    if (k.type === 'boolean') return v === '' ? undefined : v === true || v === 'true';
    const s = String(v).trim();
    return s === '' ? undefined : s;
  }

  createBody() {
    const conf = {};
    for (const k of [...this.basicKeys(), ...this.moreKeys()]) {
      const v = this.typed(k);
      if (v !== undefined) conf[k.key] = v;
    }
    conf[K.enabled] = this.eventsEnabled;
    if (this.eventsEnabled) {
      for (const key of [K.callback, K.signature, K.interval]) {
        const v = String(this.values[key] ?? '').trim();
        if (v !== '') conf[key] = v;
      }
      conf[K.pollers] = this.pollerBody();
    }
    const body = { element: { key: this.el.key }, name: this.name.trim(), configuration: conf };
    if (this.tags.length) body.tags = this.tags;
    return body;
  }

  /** What changed since the instance was read: secrets left blank keep the stored ones. */
  patchBody() {
    const inst = this.inst;
    const body = {};
    if (this.name.trim() !== inst.name) body.name = this.name.trim();
    if (JSON.stringify(this.tags) !== JSON.stringify(inst.tags || [])) body.tags = this.tags;
    const conf = {};
    const keys = [...this.basicKeys(), ...this.moreKeys()];
    if (this.eventsEnabled) keys.push(...this.el.configuration.filter((k) => [K.callback, K.signature, K.interval].includes(k.key)));
    for (const k of keys) {
      const old = inst.configuration?.[k.key];
      const v = this.typed(k);
      if (k.secret || old === MASKED) {
        if (v !== undefined) conf[k.key] = v;
      } else if (v === undefined) {
        if (old !== undefined && old !== '') conf[k.key] = null;
      } else if (String(v) !== String(old ?? '')) {
        conf[k.key] = v;
      }
    }
    if (this.eventsEnabled !== Boolean(inst.eventsEnabled)) conf[K.enabled] = this.eventsEnabled;
    if (this.eventsEnabled) {
      const now = this.pollerBody();
      if (JSON.stringify(now) !== JSON.stringify(pollerConfig(inst))) conf[K.pollers] = now;
    }
    if (Object.keys(conf).length) body.configuration = conf;
    return body;
  }

  async submit(e) {
    e.preventDefault();
    if (!this.el || this.submitting) return;
    this.errors = {};
    const bad = Object.entries(this.res).filter(([, r]) => r.selected && this.eventsEnabled && r.parseError);
    if (bad.length) {
      for (const [n, r] of bad) r.open = true;
      this.showProblems('Fix the poller configuration first', bad.map(([n, r]) => ({
        pointer: `/configuration/${K.pollers}/${ptrToken(n)}`, message: r.parseError,
      })));
      this.update();
      this.focusSummary();
      return;
    }
    this.submitting = true;
    this.summary = null;
    this.update();
    try {
      if (this.editing) {
        const body = this.patchBody();
        if (Object.keys(body).length === 0) {
          toast('Nothing changed');
        } else {
          await api('PATCH', `/instances/${this.id}`, { body });
          toast('Changes saved');
        }
        location.hash = `#/instances/${this.id}`;
        return;
      }
      const { data } = await api('POST', '/instances', { body: this.createBody() });
      this.created = data;
      this.title = 'Instance created';
      this.update();
      requestAnimationFrame(() => document.getElementById('created-title')?.focus());
    } catch (err) {
      const verb = this.editing ? 'The changes were not saved' : 'The instance was not created';
      if (err.problems?.length) {
        const n = err.problems.length;
        this.showProblems(`${verb}: ${n} ${n === 1 ? 'problem' : 'problems'}`, err.problems);
      } else {
        this.summary = { title: verb, items: [{ id: null, label: '', message: err.message }] };
      }
      this.focusSummary();
    } finally {
      this.submitting = false;
      this.update();
    }
  }

  /** The number of a step of the creation; an edit has no steps. */
  step(n) { return this.editing ? nothing : html`<span class="step" aria-hidden="true">${n}</span> `; }

  focusSummary() {
    requestAnimationFrame(() => document.getElementById('form-problems')?.focus());
  }

  focusField(id) {
    const el = document.getElementById(id);
    if (!el) return;
    el.scrollIntoView({ block: 'center' });
    (el.matches('input,textarea,select,button') ? el : el.querySelector('input,textarea,select,button'))?.focus();
  }

  // ---- views

  view() {
    if (this.loadError) return html`<p class="alert error" role="alert">Cannot load the form: ${this.loadError}</p>`;
    if (!this.elements) return html`<p class="muted">Loading…</p>`;
    if (this.created) return this.createdView();
    const el = this.el;
    return html`
      <div class="page-head">
        <div>
          ${this.editing ? html`<p class="crumbs"><a href="#/instances">Instances</a> / <a href="#/instances/${this.id}">${this.inst?.name || this.id}</a></p>` : nothing}
          <h1>${this.editing ? `Edit ${this.inst?.name || ''}` : 'Create an instance'}</h1>
          ${this.editing ? nothing : html`<p class="muted">Connect a helpdesk account: Pollen polls it and posts signed events to your callback URL.</p>`}
        </div>
      </div>
      <form class="instance-form" novalidate @submit=${(e) => this.submit(e)}>
        ${this.summaryView()}
        ${this.elementView()}
        ${el ? html`
          ${this.basicView()}
          ${this.eventsView()}
          ${this.tagsView()}
          ${this.moreView()}
          <div class="form-actions">
            <button class="btn primary" type="submit" ?disabled=${this.submitting}>
              ${this.submitting ? (this.editing ? 'Saving…' : 'Creating…') : (this.editing ? 'Save changes' : 'Create Instance')}</button>
            <a class="btn ghost" href=${this.editing ? `#/instances/${this.id}` : '#/instances'}>Cancel</a>
          </div>` : nothing}
      </form>`;
  }

  summaryView() {
    const s = this.summary;
    if (!s) return nothing;
    return html`<div class="alert error summary" id="form-problems" role="alert" tabindex="-1">
      <h2>${s.title}</h2>
      <ul>${s.items.map((it) => html`<li>${it.id
        ? html`<button type="button" class="linklike" @click=${() => this.focusField(it.id)}>${it.label}</button>: `
        : (it.label ? html`<code>${it.label}</code>: ` : nothing)}${it.message}</li>`)}</ul>
    </div>`;
  }

  elementView() {
    if (this.editing) {
      return html`<section class="card form-section"><h2>Element</h2><p><strong>${this.el?.name}</strong>
        <span class="muted">(${this.el?.key}) · the element of an instance cannot change</span></p></section>`;
    }
    const id = 'f-element';
    return html`<fieldset class="card form-section" id=${id} aria-describedby=${errId(id)}>
      <legend>${this.step(1)}Element</legend>
      <div class="choices">
        ${this.elements.map((e) => html`
          <div class="choice">
            <input type="radio" name="element" id="f-element-${e.key}" value=${e.key} .checked=${live(this.el?.key === e.key)}
              @change=${() => { this.pick(e); this.update(); }}>
            <label for="f-element-${e.key}"><strong>${e.name}</strong>
              <span class="muted small">${e.resources.length} resources · ${e.key}</span></label>
          </div>`)}
      </div>
      ${this.el ? nothing : html`<p class="muted">Pick the element to see its fields.</p>`}
      ${fieldErrors(errId(id), this.msgs(id))}
    </fieldset>`;
  }

  input(k, { type, placeholder, hint } = {}) {
    const id = fid(k.key);
    const secretKept = this.editing && (k.secret || this.inst?.configuration?.[k.key] === MASKED);
    const ph = placeholder ?? (secretKept && this.inst?.configuration?.[k.key] ? 'Unchanged: leave blank to keep it' : (k.defaultValue ? `Default: ${k.defaultValue}` : ''));
    const describe = [k.description || hint ? `${id}-hint` : '', this.msgs(id)?.length ? errId(id) : ''].filter(Boolean).join(' ');
    if (k.type === 'boolean') {
      return html`<div class="field">
        <label for=${id}>${k.name || k.key}</label>
        <select id=${id} aria-invalid=${this.invalid(id)} aria-describedby=${describe || nothing}
          @change=${(e) => this.setValue(k.key, e.target.value)}>
          <option value="" ?selected=${this.values[k.key] === '' || this.values[k.key] === undefined}>Default${k.defaultValue ? ` (${k.defaultValue})` : ''}</option>
          <option value="true" ?selected=${String(this.values[k.key]) === 'true'}>Yes</option>
          <option value="false" ?selected=${String(this.values[k.key]) === 'false'}>No</option>
        </select>
        ${k.description ? html`<p class="hint" id="${id}-hint">${k.description}</p>` : nothing}
        ${fieldErrors(errId(id), this.msgs(id))}
      </div>`;
    }
    const t = type || (k.type === 'password' ? 'password' : k.type === 'number' ? 'text' : 'text');
    return html`<div class="field">
      <label for=${id}>${k.name || k.key}${k.required ? html`<span class="req" aria-hidden="true"> *</span>` : nothing}</label>
      <input id=${id} type=${t} .value=${live(String(this.values[k.key] ?? ''))} placeholder=${ph}
        autocomplete=${t === 'password' ? 'new-password' : 'off'} spellcheck="false"
        inputmode=${k.type === 'number' ? 'decimal' : nothing}
        aria-invalid=${this.invalid(id)} aria-describedby=${describe || nothing} ?required=${k.required}
        @input=${(e) => this.setValue(k.key, e.target.value)}>
      ${k.description || hint ? html`<p class="hint" id="${id}-hint">${hint || k.description}</p>` : nothing}
      ${fieldErrors(errId(id), this.msgs(id))}
    </div>`;
  }

  basicView() {
    const id = 'f-name';
    return html`<section class="card form-section" aria-labelledby="sec-basic">
      <h2 id="sec-basic">${this.step(2)}Authenticate with ${this.el.name}</h2>
      <div class="field">
        <label for=${id}>Name</label>
        <input id=${id} type="text" .value=${live(this.name)} autocomplete="off" placeholder="acme-freshdesk"
          aria-invalid=${this.invalid(id)} aria-describedby="${id}-hint ${this.msgs(id)?.length ? errId(id) : ''}"
          @input=${(e) => { this.name = e.target.value; this.touched(id); this.update(); }}>
        <p class="hint" id="${id}-hint">The name of this element instance, as lists show it.</p>
        ${fieldErrors(errId(id), this.msgs(id))}
      </div>
      <div class="grid2">${this.basicKeys().map((k) => this.input(k))}</div>
    </section>`;
  }

  eventsView() {
    const sw = fid(K.enabled);
    const key = (k) => this.el.configuration.find((c) => c.key === k) || { key: k, name: k };
    const iv = fid(K.interval);
    const fallback = String(this.el.events?.refreshInterval || 15);
    const minutes = Number.parseFloat(String(this.values[K.interval] ?? '').trim() || fallback);
    return html`<section class="card form-section" aria-labelledby="sec-events">
      <h2 id="sec-events">${this.step(3)}Events</h2>
      <div class="field switch-field">
        <input type="checkbox" role="switch" class="switch" id=${sw} .checked=${live(this.eventsEnabled)}
          aria-describedby="${sw}-hint"
          @change=${(e) => { this.eventsEnabled = e.target.checked; this.update(); }}>
        <label for=${sw}>${this.keyName(K.enabled) || 'Events Enabled'}</label>
        <p class="hint" id="${sw}-hint">${this.eventsEnabled ? 'Pollen polls the resources selected below and posts their changes to the callback URL.' : 'Switch on to poll for changes and receive events.'}</p>
        ${fieldErrors(errId(sw), this.msgs(sw))}
      </div>
      ${this.eventsEnabled ? html`
        ${this.input(key(K.callback), { type: 'url', placeholder: 'https://example.com/hooks/pollen', hint: 'Where Pollen POSTs each notification.' })}
        ${this.input(key(K.signature), { hint: 'Optional. Notifications are signed with it (Elements-Webhook-Signature), so your receiver can tell they were not tampered with.' })}
        <div class="field">
          <label for=${iv}>${this.keyName(K.interval)}</label>
          <div class="slider-row">
            <label class="visually-hidden" for="${iv}-slider">${this.keyName(K.interval)}, slider</label>
            <input type="range" id="${iv}-slider" min="1" max="60" step="1" aria-describedby="${iv}-hint"
              .value=${live(String(Math.min(60, Math.max(1, Math.round(minutes) || 1))))}
              @input=${(e) => this.setValue(K.interval, e.target.value)}>
            <input type="text" inputmode="decimal" id=${iv} class="num" .value=${live(String(this.values[K.interval] ?? ''))}
              placeholder=${fallback}
              aria-invalid=${this.invalid(iv)} aria-describedby="${iv}-hint ${this.msgs(iv)?.length ? errId(iv) : ''}"
              @input=${(e) => this.setValue(K.interval, e.target.value)}>
          </div>
          <p class="hint" id="${iv}-hint">How often Pollen polls for changes${minutes > 0 ? html`: every <strong>${intervalText(minutes)}</strong>` : ''}. Fractions are allowed (0.05 is 3 seconds).</p>
          ${fieldErrors(errId(iv), this.msgs(iv))}
        </div>
        ${this.resourcesView()}` : nothing}
    </section>`;
  }

  resourcesView() {
    const id = 'f-resources';
    return html`<fieldset class="resources" id=${id} aria-describedby=${this.msgs(id)?.length ? errId(id) : nothing}>
      <legend>Select the resources to poll</legend>
      <p class="hint">Click the pencil to change how a resource is polled: its URL, id field and date fields.</p>
      ${fieldErrors(errId(id), this.msgs(id))}
      <ul class="resource-list">
        ${this.el.resources.map((r) => this.resourceView(r))}
      </ul>
    </fieldset>`;
  }

  resourceView(res) {
    const r = this.res[res.name];
    const id = resId(res.name);
    const cb = `${id}-on`;
    const msgs = this.msgs(id) || [];
    const changed = r.text.trim() !== r.def.trim();
    let status = nothing;
    if (r.parseError) status = html`<p class="check bad-text" id="${id}-status">✗ ${r.parseError}</p>`;
    else if (r.checking && !msgs.length) status = html`<p class="check muted" id="${id}-status">Checking…</p>`;
    else if (r.checked && !msgs.length) status = html`<p class="check ok-text" id="${id}-status">✓ Valid poller configuration</p>`;
    return html`<li class="resource ${r.selected ? 'on' : ''} ${msgs.length || r.parseError ? 'has-errors' : ''}">
      <div class="resource-row">
        <input type="checkbox" id=${cb} .checked=${live(r.selected)} aria-describedby=${res.description ? `${id}-desc` : nothing}
          @change=${(e) => { r.selected = e.target.checked; this.touched(id); this.update(); }}>
        <div class="resource-name">
          <label for=${cb}>${res.name}</label>
          ${changed ? html`<span class="tag small">customised</span>` : nothing}
          ${res.description ? html`<p class="muted small desc" id="${id}-desc">${res.description}</p>` : nothing}
        </div>
        <button type="button" class="icon-btn" aria-expanded=${r.open ? 'true' : 'false'} aria-controls="${id}-panel"
          aria-label="Configure polling of ${res.name}" title="Configure polling of ${res.name}"
          @click=${() => this.toggleEditor(res.name)}>${pencil}</button>
      </div>
      ${!r.open ? fieldErrors(`${id}-errs-closed`, msgs) : nothing}
      ${r.open ? html`<div class="resource-editor" id="${id}-panel">
        <label for=${id}>Poller configuration of ${res.name} (JSON)</label>
        <textarea id=${id} rows=${Math.min(18, Math.max(6, r.text.split('\n').length + 1))} spellcheck="false"
          aria-invalid=${msgs.length || r.parseError ? 'true' : 'false'}
          aria-describedby="${id}-status ${msgs.length ? errId(id) : ''}"
          .value=${live(r.text)} @input=${(e) => this.editResource(res.name, e.target.value)}></textarea>
        ${status}
        ${fieldErrors(errId(id), msgs)}
        <div class="editor-actions">
          ${this.editing ? this.trial(res.name).button(() => this.trialConfiguration(res.name)) : nothing}
          <button type="button" class="btn small ghost" ?disabled=${!changed}
            @click=${() => this.editResource(res.name, r.def)}>Reset to the definition's default</button>
          <span class="muted small">Fields: url, idField, datesConfiguration, createdCheckTolerance, filterByUpdatedDate, pageSize, …</span>
        </div>
        ${this.editing ? html`<p class="hint">Try runs one poll of the last hour with this configuration, as typed, and commits nothing.</p>
          ${this.trial(res.name).view()}` : nothing}
      </div>` : nothing}
    </li>`;
  }

  tagsView() {
    const id = 'f-tags';
    return html`<section class="card form-section" aria-labelledby="sec-tags">
      <h2 id="sec-tags">${this.step(4)}Tags</h2>
      <div class="field">
        <label for=${id}>Tags</label>
        <div class="tag-input">
          ${this.tags.map((t) => html`<span class="tag chip">${t}<button type="button" aria-label="Remove tag ${t}"
            @click=${() => { this.tags = this.tags.filter((x) => x !== t); this.update(); }}>×</button></span>`)}
          <input id=${id} type="text" list="known-tags" autocomplete="off" placeholder=${this.tags.length ? 'Add another' : 'Type a tag and press Enter'}
            aria-invalid=${this.invalid(id)} aria-describedby="${id}-hint ${this.msgs(id)?.length ? errId(id) : ''}"
            @keydown=${(e) => this.tagKey(e)} @keypress=${(e) => { if (e.key === 'Enter') e.preventDefault(); }}
            @change=${(e) => { if (e.target.value.trim()) { this.addTag(e.target.value); e.target.value = ''; } }}>
          <datalist id="known-tags">${this.knownTags.filter((t) => !this.tags.includes(t)).map((t) => html`<option value=${t}></option>`)}</datalist>
        </div>
        <p class="hint" id="${id}-hint">Optional. Type new tags or pick existing ones${this.knownTags.length ? ` (${this.knownTags.slice(0, 5).join(', ')}${this.knownTags.length > 5 ? ', …' : ''})` : ''}.</p>
        ${fieldErrors(errId(id), this.msgs(id))}
      </div>
    </section>`;
  }

  moreView() {
    const keys = this.moreKeys();
    if (!keys.length) return nothing;
    const open = keys.some((k) => this.msgs(fid(k.key))?.length) || undefined;
    return html`<details class="card form-section more" ?open=${open}>
      <summary><h2>More settings</h2><span class="muted small">${keys.map((k) => k.name || k.key).slice(0, 4).join(', ')}, …</span></summary>
      <div class="grid2">${keys.map((k) => this.input(k))}</div>
    </details>`;
  }

  createdView() {
    const c = this.created;
    return html`<section class="card created" aria-labelledby="created-title">
      <h1 id="created-title" tabindex="-1"><span class="ok-text" aria-hidden="true">✓</span> Instance created</h1>
      <p>Note the <strong>Token</strong> and <strong>ID</strong> and keep them: every later request about this instance uses them.</p>
      <dl class="keyvals big">
        <div><dt>Token</dt><dd><code id="created-token">${c.token}</code>${copyButton(c.token, 'Copy Token')}</dd></div>
        <div><dt>ID</dt><dd><code id="created-id">${c.id}</code>${copyButton(String(c.id), 'Copy ID')}</dd></div>
      </dl>
      <p class="muted">${c.name} · ${c.element?.name} · events ${c.eventsEnabled ? 'on' : 'off'}</p>
      <p class="actions-row">
        <a class="btn primary" href="#/instances/${c.id}">Open the instance</a>
        <a class="btn" href="#/instances">All instances</a>
      </p>
    </section>`;
  }
}

function pretty(v) { return JSON.stringify(v, null, 2); }
