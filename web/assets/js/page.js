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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves to `{role, user}` when the caller may be on this page, else navigates away: to
 *  the login page when not logged in (401). Any other failure (network, hub restarting) is
 *  retried, with a growing pause, while the page says that the connection is lost. */
export async function enter(roles) {
  let me;
  for (let wait = 1000; ; wait = Math.min(wait * 2, 15000)) {
    try {
      me = await get("/api/v1/me");
      break;
    } catch (e) {
      if (e.status === 401) {
        location.replace("/");
        return new Promise(() => {});
      }
      showNet("offline");
      await sleep(wait);
    }
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
