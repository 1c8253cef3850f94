// What every signed-in page does first: find out who is here, send them to the page of their
// role, show their name, wire the log-out button.
import { get, post } from "./api.js";
import { t } from "./i18n.js";

/** The page of each role. */
export const HOME = {
  admin: "/wall",
  duty_officer: "/wall",
  responder: "/console",
  resident: "/sos",
};

/** Resolves to `{role, user}` when the caller may be on this page, else navigates away. */
export async function enter(roles) {
  let me;
  try {
    me = await get("/api/v1/me");
  } catch (e) {
    location.replace("/");
    return new Promise(() => {});
  }
  if (!roles.includes(me.role)) {
    location.replace(HOME[me.role] || "/");
    return new Promise(() => {});
  }
  const name = document.getElementById("me-name");
  if (name) name.textContent = me.user?.display_name || me.user?.username || "";
  document.getElementById("logout")?.addEventListener("click", async () => {
    try { await post("/api/v1/auth/logout"); } finally { location.replace("/"); }
  });
  return me;
}

/** Shows the stream's connection state in the element #net. */
export function showNet(state) {
  const el = document.getElementById("net");
  if (!el) return;
  el.dataset.state = state;
  el.dataset.i18n = "net." + state;
  el.textContent = t("net." + state);
}
