// Straightens a 360° camera's fisheye picture in the browser (WebGL2, no library): the
// recording stays the raw fisheye, and every view is computed per pixel from the camera's
// calibration (GET /api/v1/cameras/{id}/dewarp): mount, image circle, orientation.
//
// Model: an equidistant 180° fisheye (r = θ / 90° of the circle's radius), the common lens of
// 360° security cameras. Every output pixel is a direction (azimuth, elevation) seen from the
// camera; the mount turns it into the lens's frame, the lens model into a point of the circle.
// Views: `panorama` (360° strip; 180° for a wall mount), `dual` (two 180° strips), `quad` (four
// straight 90° views), `ptz` (one straight view: drag pans and tilts, the wheel zooms) and
// `raw` (the fisheye as it is).

export const VIEWS = ["panorama", "dual", "quad", "ptz", "raw"];
const MOUNTS = { ceiling: 0, wall: 1, floor: 2 };
const VIEW_CODE = { raw: 0, panorama: 1, dual: 2, quad: 3, ptz: 4 };
const DEG = Math.PI / 180;

const VERTEX = `#version 300 es
in vec2 pos;
out vec2 uv;
void main() { uv = vec2(pos.x * 0.5 + 0.5, 0.5 - pos.y * 0.5); gl_Position = vec4(pos, 0.0, 1.0); }`;

const FRAGMENT = `#version 300 es
precision highp float;
in vec2 uv;
out vec4 color;
uniform sampler2D frame;
uniform int view;       // 0 raw, 1 panorama, 2 dual, 3 quad, 4 ptz
uniform int mount;      // 0 ceiling, 1 wall, 2 floor
uniform vec3 circle;    // centre x, y (0..1 of the frame), radius (0..1 of its width)
uniform float frameAspect;  // frame width / height
uniform float outAspect;    // canvas width / height
uniform float orientation;  // radians
uniform vec3 ptz;       // pan, tilt, horizontal field of view (radians)
const float PI = 3.14159265358979;

// The lens frame's ray for a direction seen from the camera (azimuth a, elevation e: 0 at the
// horizon, negative below), by mount.
vec3 toLens(float a, float e) {
  float ce = cos(e), se = sin(e);
  if (mount == 1) return vec3(ce * sin(a), -se, ce * cos(a));
  if (mount == 2) return vec3(ce * cos(a), -ce * sin(a), se);
  return vec3(ce * cos(a), ce * sin(a), -se);
}

vec4 sampleRay(vec3 d) {
  d = normalize(d);
  float theta = acos(clamp(d.z, -1.0, 1.0));
  float r = theta / (0.5 * PI);
  if (r > 1.0) return vec4(0.0, 0.0, 0.0, 1.0);
  float phi = atan(d.y, d.x);
  vec2 p = vec2(circle.x + circle.z * r * cos(phi), circle.y + circle.z * r * sin(phi) * frameAspect);
  if (p.x < 0.0 || p.x > 1.0 || p.y < 0.0 || p.y > 1.0) return vec4(0.0, 0.0, 0.0, 1.0);
  return texture(frame, p);
}

vec4 direction(float a, float e) { return sampleRay(toLens(a + orientation, e)); }

// A straight (rectilinear) view at pan p, tilt t, horizontal field of view f, aspect asp.
vec4 perspective(vec2 q, float p, float t, float f, float asp) {
  float k = tan(0.5 * f);
  float x = (2.0 * q.x - 1.0) * k, y = (1.0 - 2.0 * q.y) * k / asp;
  vec3 fw = vec3(cos(t) * cos(p), cos(t) * sin(p), sin(t));
  vec3 rt = vec3(-sin(p), cos(p), 0.0);
  vec3 up = vec3(-sin(t) * cos(p), -sin(t) * sin(p), cos(t));
  vec3 d = normalize(fw + x * rt + y * up);
  return direction(atan(d.y, d.x), asin(clamp(d.z, -1.0, 1.0)));
}

// A strip of azimuths [a0, a0 + span] from the horizon down (up for a floor mount).
vec4 strip(vec2 q, float a0, float span) {
  float a = a0 + q.x * span;
  float e = mount == 1 ? (0.5 - q.y) * 0.6 * PI : -q.y * 75.0 * PI / 180.0;
  if (mount == 2) e = -e;
  return direction(a, e);
}

void main() {
  bool wall = mount == 1;
  if (view == 0) { color = texture(frame, uv); return; }
  if (view == 1) { color = wall ? strip(uv, -0.5 * PI, PI) : strip(uv, 0.0, 2.0 * PI); return; }
  if (view == 2) {
    float half_ = step(0.5, uv.y);
    vec2 q = vec2(uv.x, fract(uv.y * 2.0));
    float span = wall ? 0.5 * PI : PI;
    float a0 = (wall ? -0.5 * PI : 0.0) + half_ * span;
    color = strip(q, a0, span);
    return;
  }
  if (view == 3) {
    vec2 cell = floor(uv * 2.0);
    vec2 q = fract(uv * 2.0);
    float k = cell.y * 2.0 + cell.x;   // 0 top left, 1 top right, 2 bottom left, 3 bottom right
    float pan = wall ? (k - 1.5) * 0.25 * PI : (k + 0.5) * 0.5 * PI;
    float tilt = wall ? 0.0 : (mount == 2 ? 35.0 : -35.0) * PI / 180.0;
    color = perspective(q, pan, tilt, 0.5 * PI, outAspect);
    return;
  }
  color = perspective(uv, ptz.x, ptz.y, ptz.z, outAspect);
}`;

/** The default circle (the hub's, until an admin calibrates the camera). */
export const DEFAULT_CALIBRATION = { mount: "ceiling", center_x: 0.5, center_y: 0.5, radius: 0.28125, orientation: 0 };

function compile(gl, type, source) {
  const s = gl.createShader(type);
  gl.shaderSource(s, source);
  gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error("dewarp shader: " + gl.getShaderInfoLog(s));
  return s;
}

/** Whether this browser can dewarp (WebGL2). A software renderer (SwiftShader, llvmpipe: no
 *  GPU) draws on the CPU the page runs on — measured on a 2-core wall, it starved the page's
 *  own work — so it counts only with `software: true` (one-off drawings, or a screen set up
 *  for it with localStorage `gw.dewarp.software` = "1"). */
export function dewarpSupported({ software = false } = {}) {
  try {
    const gl = document.createElement("canvas").getContext("webgl2");
    if (!gl) return false;
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    const renderer = String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
    gl.getExtension("WEBGL_lose_context")?.loseContext();
    return software || !/swiftshader|llvmpipe|software/i.test(renderer);
  } catch { return false; }
}

export class Dewarper {
  /** `source`: a <video> (live or playback), or anything texImage2D takes (a canvas, an image). */
  constructor(source, canvas, calibration = DEFAULT_CALIBRATION, { view = "panorama" } = {}) {
    this.source = source;
    this.canvas = canvas;
    this.calibration = { ...DEFAULT_CALIBRATION, ...calibration };
    this.view = VIEWS.includes(view) ? view : "panorama";
    this.ptz = { pan: 0, tilt: -35 * DEG, fov: 80 * DEG };
    const gl = canvas.getContext("webgl2", { preserveDrawingBuffer: true, antialias: false });
    if (!gl) throw new Error("WebGL2 is not available");
    this.gl = gl;
    const prog = gl.createProgram();
    gl.attachShader(prog, compile(gl, gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(prog, compile(gl, gl.FRAGMENT_SHADER, FRAGMENT));
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error("dewarp program: " + gl.getProgramInfoLog(prog));
    this.prog = prog;
    gl.useProgram(prog);
    const buf = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, buf);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    const loc = gl.getAttribLocation(prog, "pos");
    gl.enableVertexAttribArray(loc);
    gl.vertexAttribPointer(loc, 2, gl.FLOAT, false, 0, 0);
    this.texture = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, this.texture);
    for (const [k, v] of [[gl.TEXTURE_MIN_FILTER, gl.LINEAR], [gl.TEXTURE_MAG_FILTER, gl.LINEAR],
      [gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE], [gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE]]) gl.texParameteri(gl.TEXTURE_2D, k, v);
    this.u = Object.fromEntries(["frame", "view", "mount", "circle", "frameAspect", "outAspect", "orientation", "ptz"]
      .map((n) => [n, gl.getUniformLocation(prog, n)]));
    this.bindPointer();
    this.running = false;
  }

  setCalibration(c) { this.calibration = { ...DEFAULT_CALIBRATION, ...c }; this.draw(); }

  setView(view) {
    if (!VIEWS.includes(view)) return;
    this.view = view;
    this.canvas.dataset.view = view;
    this.draw();
  }

  /** Starts drawing every frame the source shows: once per new video frame where the browser
   *  says when one is shown (requestVideoFrameCallback), so a wall of 360° tiles costs one
   *  draw per decoded frame and nothing while a camera is stalled; else every animation frame.
   *  A resized canvas (a tile enlarged) is drawn again at once, even on a paused picture. */
  start() {
    if (this.running) return this;
    this.running = true;
    const v = this.source;
    if (typeof v.requestVideoFrameCallback === "function") {
      const onFrame = () => { if (!this.running) return; this.draw(); this.vfc = v.requestVideoFrameCallback(onFrame); };
      this.vfc = v.requestVideoFrameCallback(onFrame);
    } else {
      const loop = () => { if (!this.running) return; this.draw(); this.raf = requestAnimationFrame(loop); };
      this.raf = requestAnimationFrame(loop);
    }
    this.resized = new ResizeObserver(() => this.draw());
    this.resized.observe(this.canvas);
    this.draw();
    return this;
  }

  stop() {
    this.running = false;
    cancelAnimationFrame(this.raf);
    if (this.vfc != null) this.source.cancelVideoFrameCallback?.(this.vfc);
    this.resized?.disconnect();
    this.unbind?.();
  }

  /** The source's size, or null while it has no picture yet. */
  sourceSize() {
    const s = this.source;
    const w = s.videoWidth ?? s.naturalWidth ?? s.width, h = s.videoHeight ?? s.naturalHeight ?? s.height;
    return w && h ? [w, h] : null;
  }

  draw() {
    const size = this.sourceSize();
    if (!size) return false;
    const { gl, canvas, u } = this;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round((canvas.clientWidth || canvas.width) * dpr));
    const h = Math.max(1, Math.round((canvas.clientHeight || canvas.height) * dpr));
    if (canvas.clientWidth && (canvas.width !== w || canvas.height !== h)) { canvas.width = w; canvas.height = h; }
    gl.viewport(0, 0, canvas.width, canvas.height);
    gl.bindTexture(gl.TEXTURE_2D, this.texture);
    try {
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, this.source);
    } catch { return false; }
    const c = this.calibration;
    gl.uniform1i(u.frame, 0);
    gl.uniform1i(u.view, VIEW_CODE[this.view]);
    gl.uniform1i(u.mount, MOUNTS[c.mount] ?? 0);
    gl.uniform3f(u.circle, c.center_x, c.center_y, c.radius);
    gl.uniform1f(u.frameAspect, size[0] / size[1]);
    gl.uniform1f(u.outAspect, canvas.width / canvas.height);
    gl.uniform1f(u.orientation, (c.orientation || 0) * DEG);
    gl.uniform3f(u.ptz, this.ptz.pan, this.ptz.tilt, this.ptz.fov);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    return true;
  }

  /** Virtual PTZ: dragging pans and tilts, the wheel zooms (only in the `ptz` view). */
  bindPointer() {
    const c = this.canvas;
    let last = null;
    const down = (e) => { if (this.view !== "ptz") return; last = [e.clientX, e.clientY]; c.setPointerCapture?.(e.pointerId); e.stopPropagation(); };
    const move = (e) => {
      if (!last || this.view !== "ptz") return;
      const per = this.ptz.fov / Math.max(1, c.clientWidth);
      this.panBy(-(e.clientX - last[0]) * per, (e.clientY - last[1]) * per);
      last = [e.clientX, e.clientY];
    };
    const up = () => { last = null; };
    const wheel = (e) => { if (this.view !== "ptz") return; e.preventDefault(); this.zoomBy(e.deltaY > 0 ? 1.1 : 1 / 1.1); };
    const click = (e) => { if (this.view === "ptz") e.stopPropagation(); };
    c.addEventListener("pointerdown", down);
    c.addEventListener("pointermove", move);
    c.addEventListener("pointerup", up);
    c.addEventListener("pointercancel", up);
    c.addEventListener("wheel", wheel, { passive: false });
    c.addEventListener("click", click);
    this.unbind = () => {
      c.removeEventListener("pointerdown", down); c.removeEventListener("pointermove", move);
      c.removeEventListener("pointerup", up); c.removeEventListener("pointercancel", up);
      c.removeEventListener("wheel", wheel); c.removeEventListener("click", click);
    };
  }

  panBy(dPan, dTilt) {
    this.ptz.pan = (this.ptz.pan + dPan) % (2 * Math.PI);
    this.ptz.tilt = Math.max(-85 * DEG, Math.min(85 * DEG, this.ptz.tilt + dTilt));
    this.draw();
  }

  zoomBy(factor) {
    this.ptz.fov = Math.max(20 * DEG, Math.min(120 * DEG, this.ptz.fov * factor));
    this.draw();
  }
}
