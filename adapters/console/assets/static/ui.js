// Small pieces shared by the pages: times, badges, copy buttons, the toast, JSON pointers.
import { html, nothing } from './vendor/lit-html/lit-html.js';

/** "12s ago", "3 min ago", "5 h ago", or the date: how long ago an RFC 3339 time was. */
export function ago(iso, now = Date.now()) {
  if (!iso) return '';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.round((now - t) / 1000);
  if (s < 2) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString();
}

/** "in 12s", "in 3 min", "due": how far away a time in milliseconds is. */
export function until(ms, now = Date.now()) {
  const s = Math.round((ms - now) / 1000);
  if (s <= 0) return 'due now';
  if (s < 60) return `in ${s}s`;
  if (s < 3600) return `in ${Math.round(s / 60)} min`;
  return `in ${Math.round(s / 360) / 10} h`;
}

/** A time as a person reads it: the time of day today, the date and time otherwise. */
export function clock(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const today = new Date().toDateString() === d.toDateString();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return today ? time : `${d.toLocaleDateString()} ${time}`;
}

/** A <time> element showing how long ago, with the exact time on hover. */
export const timeAgo = (iso) => iso
  ? html`<time datetime=${iso} title=${new Date(iso).toLocaleString()}>${ago(iso)}</time>`
  : html`<span class="muted">never</span>`;

/** Copies text to the clipboard; falls back to a hidden textarea where the API is missing. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.className = 'offscreen';
    document.body.append(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch { ok = false; }
    ta.remove();
    return ok;
  }
}

/** A copy button for a value; label names what it copies ("Copy Token"). */
export function copyButton(text, label) {
  const onClick = async (e) => {
    const btn = e.currentTarget;
    const ok = await copyText(text);
    btn.dataset.copied = ok ? 'yes' : 'no';
    setTimeout(() => delete btn.dataset.copied, 1600);
  };
  return html`<button type="button" class="btn small copy" aria-label=${label} title=${label} @click=${onClick}>
    <span class="copy-label">Copy</span><span class="copied-label" aria-hidden="true">Copied</span></button>`;
}

let toastTimer;
/** Shows a short message at the bottom of the page (announced to screen readers). */
export function toast(message, kind = 'ok') {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = message;
  el.className = `toast show ${kind}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = 'toast'; }, 4000);
}

/** A poller's state as a person would name it: polling, failing, held, paused, idle. */
export function pollerState(p) {
  if (p.state === 'polling' && p.lastError) return 'failing';
  return p.state || 'unknown';
}

const stateClass = { polling: 'ok', failing: 'bad', held: 'warn', paused: 'warn', idle: 'off', remote: 'info', unknown: 'off' };

/** A small coloured badge with a dot. */
export const badge = (text, kind, title) =>
  html`<span class="badge ${kind}" title=${title || nothing}><span class="dot" aria-hidden="true"></span>${text}</span>`;

export const stateBadge = (p) => badge(pollerState(p), stateClass[pollerState(p)] || 'off', p.reason || p.held || p.lastError || '');

const eventClass = { NOTIFIED: 'ok', NEW: 'info', DISPATCHED: 'info', FAILED: 'bad', QUEUED: 'warn', CANCELLED: 'off' };
export const statusBadge = (status) => badge(status, eventClass[status] || 'off');

const typeClass = { CREATED: 'ok', UPDATED: 'info', DELETED: 'bad' };
export const typeTag = (t) => html`<span class="tag type ${typeClass[t] || ''}">${t}</span>`;

/** The minutes of an instance's refresh interval, or NaN. */
export const intervalMinutes = (inst) => Number.parseFloat(inst?.configuration?.['event.poller.refresh_interval']);

/** When the next poll is due, in ms since the epoch: the scheduler's own time when the server
 * gives it, else an estimate from the last poll and the interval. */
export function nextPoll(p, inst) {
  if (pollerState(p) === 'idle' || pollerState(p) === 'paused') return null;
  if (p.nextPoll) return Date.parse(p.nextPoll);
  const min = intervalMinutes(inst);
  if (!p.lastPoll || !(min > 0)) return null;
  return Date.parse(p.lastPoll) + min * 60000;
}

/** Escapes one JSON pointer token. */
export const ptrToken = (s) => String(s).replaceAll('~', '~0').replaceAll('/', '~1');

/** The minutes of an interval for people: "15 min", "3 s". */
export function intervalText(min) {
  if (!(min > 0)) return '';
  if (min < 1) return `${Math.round(min * 600) / 10} s`;
  return `${Math.round(min * 100) / 100} min`;
}

/** A list of messages under a field, with an id that the field's aria-describedby names. */
export const fieldErrors = (id, messages) => messages && messages.length
  ? html`<ul class="field-errors" id=${id}>${messages.map((m) => html`<li>${m}</li>`)}</ul>`
  : nothing;

/** Parses a poller configuration value as the API echoes it (a JSON string) into an object. */
export function pollerConfig(inst) {
  const raw = inst?.configuration?.['event.poller.configuration'];
  if (!raw) return {};
  if (typeof raw === 'object') return raw;
  try {
    const v = JSON.parse(raw);
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}
