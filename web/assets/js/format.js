// Small words and times for people: state names, event names, clock times, ages.
import { t, getLang } from "./i18n.js";

export const stateLabel = (s) => t("state." + s);
export const eventLabel = (type) => t("event." + type);
export const kindLabel = (k) => t("kind." + k);

/** 14:05:09 — a 24-hour clock in both languages (a duty room's log is read in 24 hours). */
export function clock(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString(getLang(), { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
}

/** 2026-11-26 14:05 — a date and a 24-hour time, for the history. */
export function dateTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** 2026-11-26 14:05:09 — a date and a 24-hour time to the second, for audit lists. */
export function stamp(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${dateTime(iso)}:${String(d.getSeconds()).padStart(2, "0")}`;
}

/** "3:05" since `iso`. */
export function age(iso, now = Date.now()) {
  const s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** Where an incident is, in words: the caller's address if known, else the grid and the
 *  nearest named place (`near`: {name, metres}), else "unknown". Never raw coordinates. */
export function place(incident, { address, grid, near } = {}) {
  const parts = [];
  if (address) parts.push(address);
  else if (near) parts.push(t("place.near", { name: near.name, metres: Math.round(near.metres) }));
  if (grid && !address) parts.unshift(grid);
  if (!parts.length) return t(incident.lat == null ? "place.no_gps" : "common.unknown");
  return parts.join(" · ");
}

/** A link that opens the phone's or the computer's map app at the incident (geo: URI, RFC
 *  5870: no map service is called from the page). */
export function mapLink(incident) {
  if (incident.lat == null || incident.lon == null) return null;
  return `geo:${incident.lat.toFixed(6)},${incident.lon.toFixed(6)}`;
}

/** Metres between two points (equirectangular: fine within a community). */
export function metres(a, b) {
  const k = Math.PI / 180;
  const x = (b.lon - a.lon) * k * Math.cos(((a.lat + b.lat) / 2) * k);
  const y = (b.lat - a.lat) * k;
  return Math.sqrt(x * x + y * y) * 6371000;
}

/** The nearest of `places` ({name, lat, lon}) to the incident, with its distance. */
export function nearest(incident, places) {
  if (incident.lat == null || incident.lon == null) return null;
  let best = null;
  for (const p of places) {
    if (p.lat == null || p.lon == null) continue;
    const m = metres(incident, p);
    if (!best || m < best.metres) best = { name: p.name, metres: m };
  }
  return best;
}

export const OPEN_STATES = ["raised", "dispatched", "acknowledged", "en_route", "on_scene"];
export const isOpen = (incident) => OPEN_STATES.includes(incident.state);

/** A new element: el("li", {class: "x"}, child, "text"). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k in e && typeof v !== "string") e[k] = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}
