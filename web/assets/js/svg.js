// Building SVG without a library. The namespace is taken from an element the HTML parser made,
// so that no address is written in the assets.
const probe = document.createElement("div");
probe.innerHTML = "<svg></svg>";
const NS = probe.firstChild.namespaceURI;

export function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) e.setAttribute(k, v);
  for (const c of children) if (c != null) e.append(c);
  return e;
}
