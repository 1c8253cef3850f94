// A failure said in the page's language. The hub's messages are English, for logs and
// integrators; a page shows its own words for the error's code, with the state (409), field
// (400) or wait (429) the error carries, and never the raw English.
import { t } from "./i18n.js";
import { stateLabel } from "./format.js";

/** Known codes; anything else is said as a failure with the HTTP status. */
const CODES = ["network", "illegal_transition", "forbidden", "not_found", "invalid", "rate_limited",
  "unauthorized", "unavailable", "timeout", "conflict"];

/** The name of an input field, or "the input" for one without a name of its own. */
function fieldName(field) {
  const key = "field." + field;
  const name = t(key);
  return name === key ? t("field.other") : name;
}

export function errorText(e) {
  const code = CODES.includes(e?.code) ? e.code : "other";
  return t("err." + code, {
    state: e?.state ? stateLabel(e.state) : "",
    field: fieldName(e?.field || "other"),
    seconds: e?.retryAfter ?? "",
    status: e?.status ?? "",
  });
}
