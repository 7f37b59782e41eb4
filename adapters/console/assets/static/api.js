// The JSON API, called with the session cookie and the session's CSRF token. The page holds no
// secret: the token only proves the request comes from a page this server rendered.

const csrf = document.querySelector('meta[name="pollen-csrf"]')?.content ?? '';

/** An error answer of the API: status, and the JSON body ({message, errors: [{pointer, message}]}). */
export class APIError extends Error {
  constructor(status, body, message) {
    super(message || body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body ?? {};
    this.problems = Array.isArray(body?.errors) ? body.errors : [];
  }
}

let onSignedOut = () => {};

/** Sets what happens when the session is gone (a 401 that is not about an Element token). */
export function whenSignedOut(fn) { onSignedOut = fn; }

/**
 * Calls the API. Resolves to {data, headers}; rejects with APIError for any non-2xx answer, and
 * calls the signed-out handler first when the session has ended.
 */
export async function api(method, path, { body, headers = {}, signal } = {}) {
  const h = { 'X-Pollen-CSRF': csrf, Accept: 'application/json', ...headers };
  const init = { method, headers: h, credentials: 'same-origin', cache: 'no-store', signal };
  if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(0, null, 'Pollen cannot be reached. Is the server running?');
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { message: text }; }
  }
  if (res.status === 401 && !(res.headers.get('WWW-Authenticate') || '').startsWith('Element')) {
    onSignedOut();
  }
  if (!res.ok) throw new APIError(res.status, data);
  return { data, headers: res.headers };
}

export const get = (path, opts) => api('GET', path, opts).then((r) => r.data);
