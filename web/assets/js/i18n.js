// Two languages, zh-CN and English: the browser's language picks, the switch overrides and is
// remembered. Elements name their text with data-i18n="key".
(function () {
  const dict = {
    "zh-CN": {
      "app.title": "社区综治中心",
      "login.title": "登录", "login.username": "用户名", "login.password": "密码", "login.submit": "登录",
      "login.wrong": "用户名或密码错误", "login.throttled": "失败次数过多，请稍后再试",
      "me.title": "已登录", "me.as": "当前用户", "me.logout": "退出登录",
      "role.admin": "管理员", "role.duty_officer": "值班人员", "role.responder": "处置人员",
      "role.resident": "居民", "role.device": "报警按钮",
      "lang.other": "English",
    },
    "en": {
      "app.title": "Community security centre",
      "login.title": "Log in", "login.username": "Username", "login.password": "Password", "login.submit": "Log in",
      "login.wrong": "Wrong username or password", "login.throttled": "Too many failed attempts; try again later",
      "me.title": "Logged in", "me.as": "Logged in as", "me.logout": "Log out",
      "role.admin": "Administrator", "role.duty_officer": "Duty officer", "role.responder": "Responder",
      "role.resident": "Resident", "role.device": "Panic button",
      "lang.other": "中文",
    },
  };
  function pick() {
    const saved = localStorage.getItem("gw.lang");
    if (saved && dict[saved]) return saved;
    return (navigator.language || "zh-CN").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
  }
  let lang = pick();
  function t(key) { return (dict[lang] && dict[lang][key]) || dict["zh-CN"][key] || key; }
  function apply() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    const sw = document.getElementById("lang");
    if (sw) sw.textContent = t("lang.other");
  }
  function toggle() {
    lang = lang === "zh-CN" ? "en" : "zh-CN";
    localStorage.setItem("gw.lang", lang);
    apply();
    document.dispatchEvent(new CustomEvent("gw:lang"));
  }
  window.gwI18n = { t, apply, toggle, get lang() { return lang; } };
  document.addEventListener("DOMContentLoaded", () => {
    apply();
    const sw = document.getElementById("lang");
    if (sw) sw.addEventListener("click", toggle);
  });
})();
