// Small words and times for people: state names, event names, clock times, ages.
import { t, getLang } from "./i18n.js";

export const stateLabel = (s) => t("state." + s);
export const eventLabel = (type) => t("event." + type);
export const kindLabel = (k) => t("kind." + k);

export function clock(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString(getLang(), { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** "3:05" since `iso`. */
export function age(iso, now = Date.now()) {
  const s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export function place(incident) {
  if (incident.lat == null || incident.lon == null) return t("common.unknown");
  return `${incident.lat.toFixed(5)}, ${incident.lon.toFixed(5)}`;
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
