// The alarm: a two-tone beep made with Web Audio (no sound file to fetch), repeated until
// stop(). Browsers start audio only after a user gesture; `needsGesture()` says so.

let ctx = null;
let timer = null;

function context() {
  if (!ctx) {
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return null;
    ctx = new AC();
  }
  return ctx;
}

function beep(freq, at, dur) {
  const c = context();
  const o = c.createOscillator();
  const g = c.createGain();
  o.type = "square";
  o.frequency.value = freq;
  g.gain.setValueAtTime(0.0001, at);
  g.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
  g.gain.exponentialRampToValueAtTime(0.0001, at + dur);
  o.connect(g).connect(c.destination);
  o.start(at);
  o.stop(at + dur + 0.05);
}

function ring() {
  const c = context();
  if (!c) return;
  const now = c.currentTime;
  beep(880, now, 0.25);
  beep(660, now + 0.3, 0.25);
}

export function start() {
  if (timer) return;
  context()?.resume?.();
  ring();
  timer = setInterval(ring, 1200);
}

export function stop() {
  clearInterval(timer);
  timer = null;
}

export const ringing = () => timer !== null;

/** True when the browser holds audio back until the user clicks. */
export function needsGesture() {
  const c = context();
  return !!c && c.state === "suspended";
}

/** Unlocks audio on the next click or key anywhere on the page. */
export function unlockOnGesture(done) {
  const go = () => { context()?.resume?.().then(() => done?.()); };
  document.addEventListener("pointerdown", go, { once: true });
  document.addEventListener("keydown", go, { once: true });
}
