// The 15-minute promise, per incident: time left to deadline_at, amber when at risk, red when
// breached. Elements made by countdown() are refreshed every second by one shared timer.
import { t } from "./i18n.js";

const DONE = ["on_scene", "resolved", "cancelled"];

/** {level: ok|at-risk|breached|met|late|closed, remaining (ms)} for an incident at `now`. */
export function slaOf(incident, now = Date.now()) {
  const deadline = Date.parse(incident.deadline_at);
  const created = Date.parse(incident.created_at);
  const remaining = deadline - now;
  if (incident.on_scene_at) {
    return { level: Date.parse(incident.on_scene_at) <= deadline ? "met" : "late", remaining };
  }
  if (DONE.includes(incident.state)) return { level: "closed", remaining };
  const atRiskAfter = (incident.policy?.at_risk_after_seconds ?? (deadline - created) / 1000 * 2 / 3) * 1000;
  let level = "ok";
  if (remaining <= 0 || incident.breached_at) level = "breached";
  else if (now - created >= atRiskAfter || incident.at_risk_at) level = "at-risk";
  return { level, remaining };
}

/** 7:05, 0:09 — minutes and seconds. */
export function mmss(ms) {
  const s = Math.floor(Math.abs(ms) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function render(el) {
  const inc = el._incident;
  if (!inc) return;
  const { level, remaining } = slaOf(inc);
  el.dataset.level = level;
  let text;
  if (level === "met") text = t("sla.met");
  else if (level === "late") text = t("sla.late");
  else if (level === "closed") text = "";
  else if (remaining >= 0) text = `${mmss(remaining)} ${t("sla.left")}`;
  else text = `${t("sla.breached")} ${mmss(remaining)}`;
  if (level === "at-risk") text = `${t("sla.at_risk")} · ${text}`;
  el.textContent = text;
}

/** A live countdown element for an incident; update it with setIncident(el, incident). */
export function countdown(incident, className = "countdown") {
  const el = document.createElement("span");
  el.className = className;
  el.setAttribute("role", "timer");
  setIncident(el, incident);
  return el;
}

export function setIncident(el, incident) {
  el._incident = incident;
  el.dataset.countdown = "";
  render(el);
}

setInterval(() => document.querySelectorAll("[data-countdown]").forEach(render), 1000);
