// Log in with the session cookie (HttpOnly: scripts never see the token), then go to the page
// of the role: the live wall, the post console or the SOS page.
import { get, post } from "./api.js";
import { t } from "./i18n.js";
import { HOME } from "./page.js";

const $ = (id) => document.getElementById(id);

async function showMe() {
  let me;
  try {
    me = await get("/api/v1/me");
  } catch {
    $("login").hidden = false;
    $("whoami").hidden = true;
    return null;
  }
  const who = me.user || me.device;
  $("me-name").textContent = who.display_name || who.name || who.username;
  $("me-role").dataset.i18n = "role." + me.role;
  $("me-role").textContent = t("role." + me.role);
  $("open-home").href = HOME[me.role] || "/";
  $("open-home").hidden = !HOME[me.role];
  $("login").hidden = true;
  $("whoami").hidden = false;
  return me;
}

$("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const err = $("login-error");
  try {
    const r = await post("/api/v1/auth/login", { username: form.get("username"), password: form.get("password") });
    err.hidden = true;
    const home = HOME[r.user?.role];
    if (home) { location.assign(home); return; }
    ev.target.reset();
    showMe();
  } catch (e) {
    err.textContent = t(e.status === 429 ? "login.throttled" : "login.wrong");
    err.hidden = false;
  }
});

$("logout").addEventListener("click", async () => {
  try { await post("/api/v1/auth/logout"); } catch { /* already out */ }
  showMe();
});

showMe();
