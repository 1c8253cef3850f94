// A button that acts only after being held down for `ms` (so that a pocket press does
// nothing). Works with touch, mouse and keyboard (Space or Enter held). Shows progress in the
// CSS custom property --p (0 to 1).

export function holdButton(button, ms, onHeld) {
  let started = 0;
  let frame = 0;
  const progress = (p) => button.style.setProperty("--p", String(p));

  function tick() {
    const p = Math.min(1, (performance.now() - started) / ms);
    progress(p);
    if (p >= 1) { end(); onHeld(); return; }
    frame = requestAnimationFrame(tick);
  }
  function begin(e) {
    if (started || button.disabled) return;
    e.preventDefault();
    started = performance.now();
    button.classList.add("holding");
    frame = requestAnimationFrame(tick);
  }
  function end() {
    cancelAnimationFrame(frame);
    started = 0;
    button.classList.remove("holding");
    progress(0);
  }
  button.addEventListener("pointerdown", (e) => { button.setPointerCapture?.(e.pointerId); begin(e); });
  button.addEventListener("pointerup", end);
  button.addEventListener("pointercancel", end);
  button.addEventListener("lostpointercapture", end);
  button.addEventListener("contextmenu", (e) => e.preventDefault());
  button.addEventListener("keydown", (e) => { if ((e.key === " " || e.key === "Enter") && !e.repeat) begin(e); });
  button.addEventListener("keyup", (e) => { if (e.key === " " || e.key === "Enter") end(); });
  button.addEventListener("blur", end);
}
