// Log in with the session cookie (HttpOnly: scripts never see the token) and show who is in.
(function () {
  const $ = (id) => document.getElementById(id);
  async function showMe() {
    const r = await fetch("/api/v1/me", { credentials: "same-origin" });
    if (!r.ok) { $("login").hidden = false; $("whoami").hidden = true; return; }
    const me = await r.json();
    const who = me.user || me.device;
    $("me-name").textContent = who.display_name || who.name;
    $("me-role").textContent = gwI18n.t("role." + me.role);
    $("login").hidden = true;
    $("whoami").hidden = false;
  }
  document.addEventListener("DOMContentLoaded", () => {
    $("login").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const form = new FormData(ev.target);
      const r = await fetch("/api/v1/auth/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: form.get("username"), password: form.get("password") }),
        credentials: "same-origin",
      });
      const err = $("login-error");
      if (r.ok) { err.hidden = true; ev.target.reset(); showMe(); return; }
      err.textContent = gwI18n.t(r.status === 429 ? "login.throttled" : "login.wrong");
      err.hidden = false;
    });
    $("logout").addEventListener("click", async () => {
      await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" });
      showMe();
    });
    showMe();
  });
})();
