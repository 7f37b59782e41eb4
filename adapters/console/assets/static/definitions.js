// The definitions: files that failed to load, as FILE: /pointer: message, then the loaded
// elements and their resources, then every file. Live as the watched folder changes.
import { html, nothing } from './vendor/lit-html/lit-html.js';
import { get } from './api.js';
import { badge, timeAgo } from './ui.js';

const stateKind = { loaded: 'ok', failed: 'bad', overridden: 'off' };

export class DefinitionsPage {
  constructor() {
    this.title = 'Definitions';
    this.files = null;
    this.elements = null;
    this.error = '';
  }

  async load() { await this.refresh(); }

  async refresh() {
    try {
      const [defs, elements] = await Promise.all([get('/definitions'), get('/elements')]);
      this.files = defs.files || [];
      this.elements = elements;
      this.error = '';
    } catch (e) {
      this.error = e.message;
    }
    this.update();
  }

  view() {
    const files = this.files || [];
    const failed = files.filter((f) => f.state === 'failed');
    return html`
      <div class="page-head"><div>
        <h1>Definitions</h1>
        <p class="muted">The elements and resources Pollen polls with, from its built-in files and its watched
          <code class="nw">--definitions</code> folder. Changes show here as the folder changes.</p>
      </div></div>
      ${this.error ? html`<p class="alert error" role="alert">Could not refresh: ${this.error}. Retrying…</p>` : nothing}
      ${this.files === null ? html`<p class="muted">Loading…</p>` : nothing}
      ${failed.length ? html`<section class="card problems" aria-labelledby="failed-title">
        <h2 id="failed-title" class="bad-text">${failed.length} ${failed.length === 1 ? 'file' : 'files'} failed to load</h2>
        <p class="hint">Until a file is fixed, its last good version keeps serving, if it had one.</p>
        ${failed.map((f) => html`<div class="failed-file">
          <p><code class="strong">${f.file}</code> ${f.serving ? html`<span class="muted small">· serving: ${f.serving}</span>` : nothing}</p>
          <ul class="problem-lines">${(f.problems || []).map((p) => html`<li><code>${p.file || f.file}: ${p.pointer || '/'}: ${p.message}</code></li>`)}</ul>
        </div>`)}
      </section>` : this.files !== null ? html`<p class="alert ok" role="status">Every definition file loaded.</p>` : nothing}
      ${(this.elements || []).map((el) => html`<section class="card" aria-labelledby="el-${el.key}">
        <div class="section-head"><h2 id="el-${el.key}">${el.name}</h2>
          <span class="muted small"><code>${el.key}</code> · id ${el.id} · hub ${el.hub}</span></div>
        ${el.description ? html`<p class="hint">${el.description}</p>` : nothing}
        <div class="table-wrap"><table class="table compact">
          <thead><tr><th scope="col">Resource</th><th scope="col">Vendor path</th><th scope="col">Default</th><th scope="col">Description</th></tr></thead>
          <tbody>${el.resources.map((r) => html`<tr>
            <td data-label="Resource"><strong>${r.name}</strong></td>
            <td data-label="Vendor path" class="nowrap"><code>${r.vendorPath}</code></td>
            <td data-label="Default" title="Polled by default">${(el.events?.defaultResources || []).includes(r.name) ? 'yes' : 'no'}</td>
            <td data-label="Description" class="muted">${r.description || '—'}</td></tr>`)}</tbody>
        </table></div>
      </section>`)}
      ${files.length ? html`<section class="card" aria-labelledby="files-title">
        <h2 id="files-title">Files</h2>
        <div class="table-wrap"><table class="table compact files-table">
          <thead><tr><th scope="col">File</th><th scope="col">Element</th><th scope="col">Resource</th><th scope="col">Source</th>
            <th scope="col">State</th><th scope="col">Loaded</th></tr></thead>
          <tbody>${files.map((f) => html`<tr class=${f.state === 'failed' ? 'row-bad' : ''}>
            <td data-label="File"><code>${f.file}</code></td>
            <td data-label="Element">${f.element}</td>
            <td data-label="Resource">${f.resource || html`<span class="muted">element</span>`}</td>
            <td data-label="Source">${f.source}</td>
            <td data-label="State">${badge(f.state, stateKind[f.state] || 'off', f.serving)}</td>
            <td data-label="Loaded">${f.loadedAt ? timeAgo(f.loadedAt) : html`<span class="muted">—</span>`}</td></tr>`)}</tbody>
        </table></div>
      </section>` : nothing}`;
  }
}
