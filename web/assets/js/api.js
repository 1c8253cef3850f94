// Calls to the hub's JSON API with the session cookie. Errors carry the hub's
// {"error": {"code", "message"}} and the HTTP status; network failures have status 0.

export class ApiError extends Error {
  /** `detail`: the error's other fields — `state` (409), `field` (400), `retry_after` (429). */
  constructor(status, code, message, detail = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.state = detail.state ?? null;
    this.field = detail.field ?? null;
    this.retryAfter = detail.retry_after ?? null;
  }
}

export async function api(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "network", e.message || "network error");
  }
  if (r.status === 204) return null;
  let data = null;
  try { data = await r.json(); } catch { /* not JSON */ }
  if (!r.ok) {
    const e = data?.error || {};
    const retry = Number(r.headers.get("Retry-After")) || undefined;
    throw new ApiError(r.status, e.code || "http_" + r.status, e.message || r.statusText, { retry_after: retry, ...e });
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}, headers) => api("POST", path, body, headers);

/** An incident action: ack, en-route, arrive, resolve, cancel, dispatch. */
export async function act(id, action, body = {}) {
  const r = await post(`/api/v1/incidents/${encodeURIComponent(id)}/${action}`, body);
  return r.incident;
}

/** How many failed reconnects in a row make a socket ask whether the session is still valid
 *  (a WebSocket upgrade refused with 401 looks like any other failure to a script). */
export const CHECK_SESSION_AFTER = 3;

let checking = null;

/** Asks the hub who we are; when the session is gone (401), goes to the login page. Calls at
 *  the same time (many camera tiles) share one request. */
export function checkSession() {
  checking ??= get("/api/v1/me").then(() => true, (e) => {
    if (e.status !== 401) return true; // unknown: the socket keeps retrying
    location.replace("/");
    return false;
  }).finally(() => { checking = null; });
  return checking;
}

/** The WebSocket address of a path on this hub. */
export function wsUrl(path) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}
