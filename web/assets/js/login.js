// Log in with the session cookie (HttpOnly: scripts never see the token), then go to the page
// of the role: the live wall, the post console or the SOS page.
import { get, post } from "./api.js";
import { t } from "./i18n.js";
import { errorText } from "./errors.js";
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

/** "Try again in N s", counted down; the button waits with it. */
let waitTimer = null;
function waitFor(seconds) {
  const err = $("login-error");
  const submit = $("login").querySelector("button[type=submit]");
  clearInterval(waitTimer);
  let left = seconds;
  const show = () => {
    err.dataset.wait = String(left);
    err.textContent = t("login.wait", { seconds: left });
  };
  show();
  submit.disabled = true;
  waitTimer = setInterval(() => {
    left -= 1;
    if (left > 0) { show(); return; }
    clearInterval(waitTimer);
    submit.disabled = false;
    delete err.dataset.wait;
    err.textContent = "";
    err.hidden = true;
  }, 1000);
}

$("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const err = $("login-error");
  // Never left in the field after an attempt, right or wrong.
  ev.target.password.value = "";
  try {
    const r = await post("/api/v1/auth/login", { username: form.get("username"), password: form.get("password") });
    err.hidden = true;
    const home = HOME[r.user?.role];
    if (home) { location.assign(home); return; }
    ev.target.reset();
    showMe();
  } catch (e) {
    err.hidden = false;
    if (e.status === 429 && e.retryAfter > 0) waitFor(e.retryAfter);
    else {
      delete err.dataset.wait;
      err.textContent = e.status === 401 ? t("login.wrong") : errorText(e);
    }
    ev.target.password.focus();
  }
});

$("logout").addEventListener("click", async () => {
  try { await post("/api/v1/auth/logout"); } catch { /* already out */ }
  showMe();
});

showMe();
