// Two languages, zh-CN (default) and English: the browser's language picks, the switch
// overrides and is remembered. Elements name their text with data-i18n="key" (text),
// data-i18n-title, data-i18n-aria and data-i18n-placeholder (attributes).
import zh from "./lang/zh-CN.js";
import en from "./lang/en.js";

const dicts = { "zh-CN": zh, en };
const listeners = [];

function pick() {
  const saved = localStorage.getItem("gw.lang");
  if (saved && dicts[saved]) return saved;
  return (navigator.language || "zh-CN").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
}

let lang = pick();

export function getLang() { return lang; }

/** The text of `key`, with `{name}` replaced from `vars`. */
export function t(key, vars) {
  let s = dicts[lang][key] ?? zh[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, v);
  return s;
}

export function apply(root = document) {
  document.documentElement.lang = lang;
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
  root.querySelectorAll("[data-i18n-aria]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.i18nAria)); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  const sw = document.getElementById("lang");
  if (sw) sw.textContent = t("lang.other");
}

/** Calls `fn` after every language switch (to redraw what was built with t()). */
export function onChange(fn) { listeners.push(fn); }

export function toggle() {
  lang = lang === "zh-CN" ? "en" : "zh-CN";
  localStorage.setItem("gw.lang", lang);
  apply();
  listeners.forEach((fn) => fn(lang));
}

apply();
document.getElementById("lang")?.addEventListener("click", toggle);
window.gwI18n = { t, apply, toggle, get lang() { return lang; } };
