// Live decoding in the browser: pictures drawn while a control is dragged. Two kinds of view: the latent
// sliders (data.kind "sliders": the sliders, the image and the traversal strip) and a control with rows
// of frames (data.kind "frames": Interpolation's scrubber, the hybrids' mix, a concept's strength, the
// noise scale of Sampling and the strength of Variations), each frame a latent on a path that
// the control moves along (views/live_latent.js).
//
// The decoder is the model's own, exported as ONNX (training/synthesis/decoder_onnx.py), run by
// onnxruntime-web's WebAssembly backend; both are served by the app itself (views/live.py). The
// server hears of a drag once, on release (setStateValue), never during it. If the runtime or the
// decoder does not load within data.timeout_ms, the component says why (state "failed") and the view
// falls back to decoding on the server.
//
// Streamlit calls the default export again whenever `data` changes; the runtime, the session and the
// controls are kept between calls (module-level state survives reruns), and the controls are built
// again only when the server sends other latents or sets a control itself (data.version).

const CACHE = "fashion-vae-explorer-live";
let ortModule = null;            // the imported runtime
const sessions = new Map();      // decoder URL -> InferenceSession (a promise of one)

// Bytes of an immutable, content-named file: from the browser's Cache Storage when it has them
// (a second visit downloads nothing), else fetched once and kept there. Outside a secure context
// (plain HTTP on another host) there is no Cache Storage: the HTTP cache is all there is.
async function bytesOf(url) {
  const cache = (window.isSecureContext && self.caches) ? await caches.open(CACHE) : null;
  const hit = cache && await cache.match(url);
  if (hit) return {bytes: await hit.arrayBuffer(), downloaded: 0};
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${response.status} ${response.statusText} for ${url.split("/").pop()}`);
  if (cache) await cache.put(url, response.clone());
  const bytes = await response.arrayBuffer();
  return {bytes, downloaded: bytes.byteLength};
}

async function forget(keep) {   // runtimes this app no longer serves (an upgrade); decoders stay
  if (!(window.isSecureContext && self.caches)) return;
  const cache = await caches.open(CACHE);
  for (const request of await cache.keys()) {
    const name = request.url.split("/").pop();
    if (name.startsWith("ort") && !keep.has(request.url)) await cache.delete(request);
  }
}

async function runtime(data) {
  if (ortModule) return {ort: ortModule, downloaded: 0};
  const moduleUrl = new URL(data.runtime.module, window.location.origin).href;
  const wasmUrl = new URL(data.runtime.wasm, window.location.origin).href;
  const [module, wasm] = await Promise.all([bytesOf(moduleUrl), bytesOf(wasmUrl)]);
  const source = URL.createObjectURL(new Blob([module.bytes], {type: "text/javascript"}));
  const ort = await import(source);
  ort.env.wasm.numThreads = 1;   // a page that is not cross-origin isolated has one thread anyway
  ort.env.wasm.wasmBinary = wasm.bytes;
  ortModule = ort;
  return {ort, downloaded: module.downloaded + wasm.downloaded};
}

async function session(ort, decoder) {
  const url = new URL(decoder, window.location.origin).href;
  if (!sessions.has(url)) {
    sessions.set(url, bytesOf(url).then(async ({bytes, downloaded}) => {
      const s = await ort.InferenceSession.create(new Uint8Array(bytes), {executionProviders: ["wasm"]});
      return {s, downloaded};
    }));
  }
  try {
    return await sessions.get(url);
  } catch (e) {
    sessions.delete(url);
    throw e;
  }
}

function withTimeout(promise, ms) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(
    () => reject(new Error(`the decoder did not load within ${Math.round(ms / 1000)} s`)), ms))]);
}

// side×side images in [0, 1], as the decoder returns them (channels first: one plane of grey, or red,
// green and blue planes), into a canvas as the server makes its pictures (explorer/images.py): each
// value round(clip(x, 0, 1) · 255); a strip's frames side by side on a grey ground, 2 pixels apart.
const RELEASE_QUIET_MS = 250;
const PAD = 2, GROUND = Math.round(0.35 * 255);
function byte(x) {
  return Math.round(Math.min(1, Math.max(0, x)) * 255);
}

function paintFrame(ctx, pixels, offset, x0, y0, side, channels) {
  const image = ctx.createImageData(side, side), out = image.data, plane = side * side;
  const green = channels === 3 ? plane : 0, blue = channels === 3 ? 2 * plane : 0;
  for (let i = 0; i < plane; i++) {
    out[4 * i] = byte(pixels[offset + i]);
    out[4 * i + 1] = byte(pixels[offset + green + i]);
    out[4 * i + 2] = byte(pixels[offset + blue + i]);
    out[4 * i + 3] = 255;
  }
  ctx.putImageData(image, x0, y0);
}

function paintGround(canvas) {
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = `rgb(${GROUND}, ${GROUND}, ${GROUND})`;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}

function escaped(text) {
  return String(text).replace(/[&<>"]/g, ch => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[ch]));
}

// One controller per mounted component, kept on its element across Streamlit's calls: it loads the
// runtime and the decoder once, then decodes at most once per animation frame, the latest input
// winning. A subclass builds the controls (build), knows when they must be built again (signature)
// and decodes and paints a frame (draw).
class Live {
  constructor(parent) {
    this.root = document.createElement("div");
    this.root.className = "live";
    parent.appendChild(this.root);
    this.ready = null;       // {ort, downloaded} once the runtime and the decoders are loaded
    this.loading = null;
    this.busy = false;       // a decode is running
    this.again = false;      // …and another was asked for meanwhile
    this.scheduled = false;  // a frame is requested
    this.frames = window.__liveFrames ||
      (window.__liveFrames = {count: 0, strips: 0, times: [], latency: []});
  }

  get side() { return this.data.side || 28; }   // the model's pictures: side×side, 1 or 3 channels
  get channels() { return this.data.channels || 1; }
  get frameSize() { return this.side * this.side * this.channels; }   // values per decoded frame

  paint(ctx, pixels, offset, x0, y0) {
    paintFrame(ctx, pixels, offset, x0, y0, this.side, this.channels);
  }

  update(data, setStateValue) {
    this.data = data;
    this.setStateValue = setStateValue;
    const signature = `${data.side}×${data.channels} ` + this.signature(data);
    if (this.built !== signature) {   // other latents, or a control the server set: new controls
      this.build(data);
      this.built = signature;
    }
    this.refresh();
    if (!this.loading) this.loading = this.load();
    else if (this.ready) this.request();
  }

  refresh() {}   // what follows the server's data without new controls (captions, notes)

  async load() {
    this.status.textContent = "loading the decoder…";
    const started = performance.now();
    const data = this.data;
    try {
      this.ready = await withTimeout((async () => {
        const {ort, downloaded} = await runtime(data);
        const loaded = await session(ort, data.decoder);
        await forget(new Set([data.runtime.module, data.runtime.wasm, data.decoder].map(
          u => new URL(u, window.location.origin).href)));
        return {ort, downloaded: downloaded + loaded.downloaded};
      })(), data.timeout_ms);
    } catch (error) {
      this.status.textContent = "";
      this.setStateValue("failed", String((error && error.message) || error));
      return;
    }
    this.status.textContent = "";
    window.__liveReady = {ms: performance.now() - started, downloaded: this.ready.downloaded};
    this.request();
  }

  request() {
    if (this.scheduled || !this.ready) return;
    this.scheduled = true;
    requestAnimationFrame(() => { this.scheduled = false; this.frame(); });
  }

  async frame() {
    if (this.busy) { this.again = true; return; }   // the running decode asks again when it ends
    this.busy = true;
    const t0 = performance.now(), inputAt = this.inputAt;
    let more = false;
    try {
      more = await this.draw();
    } catch (error) {   // a decoder that would not load or run (another model's, say): decode on the server
      this.setStateValue("failed", String((error && error.message) || error));
      return;
    } finally {
      this.busy = false;
    }
    this.frames.count += 1;
    this.frames.times.push(performance.now() - t0);   // decode and paint
    if (inputAt !== undefined && inputAt !== this.shownInput) {   // the first frame after an input
      this.frames.latency.push(performance.now() - inputAt);        // input → pixels
      this.shownInput = inputAt;
    }
    if (this.held) { const [name, value] = this.held; this.held = null; this.setStateValue(name, value); }
    if (this.again || more) { this.again = false; this.request(); }
  }

  // Tell the server a control was let go, once the pictures have settled: RELEASE_QUIET_MS after the
  // last release and after the frame it causes is painted. Arrow keys let go at every press; a burst of
  // presses is one script run, and no run competes with a frame for the CPU.
  release(name, value) {
    clearTimeout(this.releaseTimer);
    this.releaseTimer = setTimeout(() => {
      if (this.scheduled || this.busy) this.held = [name, value];
      else this.setStateValue(name, value);
    }, RELEASE_QUIET_MS);
  }

  async decode(batch, n) {   // with the decoder the server last sent (another model picked: another)
    const {ort} = this.ready, {s} = await session(ort, this.data.decoder);
    const out = await s.run({z: new ort.Tensor("float32", batch, [n, batch.length / n])});
    return out.image.data;
  }

  moved(input) {   // an input event: note when, so that the frame it causes can be timed
    this.inputAt = performance.now();
    clearTimeout(this.releaseTimer);   // still moving: the release waits for the next let-go
    this.request();
  }
}

// The latent sliders: the start with each shown dimension at its slider, decoded, and one dimension
// swept from −3 to +3 below it.
class Sliders extends Live {
  constructor(parent) {
    super(parent);
    this.stripDone = [null, null];   // the latent and sweep each half of the strip was drawn for
    this.nextPart = 0;
  }

  signature(data) {
    return JSON.stringify([data.version, data.base, data.dims.map(d => d.slice(0, 4))]);
  }

  build(data) {
    const root = this.root, strip = data.strip.length;
    this.base = Float32Array.from(data.base);
    root.innerHTML = `
      <div class="live-top">
        <div class="live-sliders"></div>
        <figure class="live-main">
          <canvas class="live-image" width="${this.side}" height="${this.side}"></canvas>
          <figcaption class="live-caption"></figcaption>
          <div class="live-status"></div>
        </figure>
      </div>
      <p class="live-heading"><strong>Traversal strip</strong>: one dimension swept from −3 to +3, all others
        as set above.</p>
      <canvas class="live-strip" width="${PAD + strip * (this.side + PAD)}" height="${this.side + 2 * PAD}"></canvas>
      <div class="live-strip-labels">${data.strip.map(v => `<span>${v >= 0 ? "+" : ""}${v.toFixed(1)}</span>`).join("")}</div>`;
    paintGround(root.querySelector(".live-strip"));
    const sliders = root.querySelector(".live-sliders");
    for (const [dim, label, lo, hi, value] of data.dims) {
      const row = document.createElement("label");
      row.className = "live-slider";
      row.innerHTML = `<span class="live-label" title="${escaped(label)}">${escaped(label)}</span>
        <span class="live-track"><input type="range" min="${lo}" max="${hi}" step="0.01" value="${value}"
          data-dim="${dim}" aria-label="${escaped(label)}"><output>${value.toFixed(2)}</output></span>`;
      sliders.appendChild(row);
    }
    this.inputs = [...root.querySelectorAll("input[type=range]")];
    this.image = root.querySelector(".live-image");
    this.strip = root.querySelector(".live-strip");
    this.caption = root.querySelector(".live-caption");
    this.status = root.querySelector(".live-status");
    this.stripDone = [null, null];
    for (const input of this.inputs) {
      const output = input.parentElement.querySelector("output");
      input.addEventListener("input", () => {
        output.textContent = parseFloat(input.value).toFixed(2);
        this.refresh();
        this.moved(input);
      });
      // the release: one script run; "at" tells this release from an earlier one that moved the same
      input.addEventListener("change", () => this.release("moved", {dims: this.changed(),
                                                                    at: Date.now() + Math.random()}));
    }
  }

  // The latent the sliders set: the start, with each shown dimension at its slider's value.
  latent() {
    const values = {};
    for (const input of this.inputs) values[input.dataset.dim] = parseFloat(input.value);
    return setCoordinates(this.base, values);
  }

  changed() {
    const out = {};
    for (const input of this.inputs) {
      const d = +input.dataset.dim, v = parseFloat(input.value);
      if (Math.abs(v - this.base[d]) > 1e-3) out[d] = Math.round(v * 100) / 100;
    }
    return out;
  }

  refresh() {
    this.caption.textContent = `decoded · ${Object.keys(this.changed()).length} dimension(s) moved from ` +
      this.data.base_name;
  }

  // The image and half the strip in one batch (1 + 6 or 1 + 5 latents), so the image follows at the
  // display's rate and the strip every second frame. Frames go on after the last input until the strip
  // is whole.
  async draw() {
    const values = this.data.strip, sweep = this.data.sweep, k = this.base.length;
    const z = this.latent(), key = Array.from(z).join(",") + "|" + sweep;
    const half = Math.ceil(values.length / 2);
    // the half of the strip not yet drawn for this latent; while the latent changes, each in turn
    const part = this.stripDone[0] === key ? (this.stripDone[1] === key ? null : 1)
      : this.stripDone[1] === key ? 0 : this.nextPart;
    this.nextPart = part === 0 ? 1 : 0;
    const frames = part === null ? [] : part === 0 ? [...Array(half).keys()]
      : [...Array(values.length - half).keys()].map(i => i + half);
    const batch = new Float32Array(k * (1 + frames.length));
    batch.set(z, 0);
    frames.forEach((f, i) => { batch.set(z, k * (i + 1)); batch[k * (i + 1) + sweep] = values[f]; });
    const pixels = await this.decode(batch, 1 + frames.length), n = this.frameSize;
    this.paint(this.image.getContext("2d"), pixels, 0, 0, 0);
    const strip = this.strip.getContext("2d");
    frames.forEach((f, i) => this.paint(strip, pixels, n * (i + 1), PAD + f * (this.side + PAD), PAD));
    if (part !== null) this.stripDone[part] = key;
    this.image.dataset.latent = Array.from(z).join(",");   // what is drawn, for tests and benchmarks
    if (this.stripDone[0] === key && this.stripDone[1] === key) this.strip.dataset.latent = key;
    this.frames.strips += part === 1 ? 1 : 0;   // a strip is new again when its second half is drawn
    return this.stripDone[0] !== this.stripDone[1];
  }
}

// One control (a range input) and rows of frames. Each frame is a latent on a path (views/
// live_latent.js) at t = o + c·s for the control's value s; frames with c = 0 are drawn once. Titles
// and captions may hold {s} and {t}, filled in as the control moves; the server's notes on the
// frames (what the classifier calls each) hold for the value it last heard of and fade while the
// control is elsewhere.
class Frames extends Live {
  signature(data) {
    // not the control's value: the server echoes each release, and the browser's control is already there
    const control = data.control && {...data.control, value: undefined};
    return JSON.stringify([data.version, data.decoder, data.vectors, data.rows, control]);
  }

  build(data) {
    const root = this.root, control = data.control || {min: 0, value: 0};   // no control: fixed frames
    this.vectors = vectorsOf(data.vectors, data.k);
    root.dataset.name = data.name || "";
    root.innerHTML = (data.control ? `
      <label class="live-control"><span class="live-label">${escaped(control.label)}</span>
        <span class="live-track"><input type="range" min="${control.min}" max="${control.max}"
          step="${control.step}" value="${control.value}" aria-label="${escaped(control.label)}">
          <output></output></span></label>` : "") + `
      <div class="live-status"></div>
      <div class="live-rows"></div>`;
    this.input = root.querySelector("input");
    this.output = root.querySelector("output");
    this.status = root.querySelector(".live-status");
    if (this.input && control.help) this.input.title = control.help;
    const rows = root.querySelector(".live-rows");
    this.cells = [];
    data.rows.forEach((row, r) => {
      const title = document.createElement("p");
      title.className = "live-row-title";
      title.dataset.template = row.title || "";
      // a sign on every frame's t where some are negative or could be
      const signed = control.min < 0 || row.frames.some(([, , , o, c]) => o < 0 || c < 0);
      const grid = document.createElement("div");
      grid.className = "live-grid";
      grid.style.gridTemplateColumns = `repeat(${row.columns}, minmax(0, ${row.size}px))`;
      row.frames.forEach(([op, a, b, o, c], f) => {
        const figure = document.createElement("figure");
        figure.className = "live-frame";
        figure.innerHTML = `<canvas width="${this.side}" height="${this.side}"></canvas><figcaption></figcaption>`;
        grid.appendChild(figure);
        this.cells.push({op, a: this.vectors[a], b: this.vectors[b], o, c, row: r, index: f,
                         canvas: figure.querySelector("canvas"), caption: figure.querySelector("figcaption"),
                         template: (row.captions || [])[f] || "", signed, drawnAt: null});
      });
      if (row.title) rows.appendChild(title);
      rows.appendChild(grid);
    });
    this.titles = [...rows.querySelectorAll(".live-row-title")];
    if (!this.input) return;
    this.input.addEventListener("input", () => { this.refresh(); this.moved(this.input); });
    // the release: one script run; "at" tells it from an earlier release at the same value
    this.input.addEventListener("change", () => this.release(
      "released", {value: this.value(), at: Date.now() + Math.random()}));
  }

  value() {
    return this.input ? parseFloat(this.input.value) : 0;
  }

  refresh() {
    const s = this.value(), digits = this.data.control ? this.data.control.digits : 2;
    const notes = this.data.notes, fresh = notes && Math.abs(notes.value - s) < 1e-9;
    const format = (v, sign) => (sign && v >= 0 ? "+" : "") + v.toFixed(digits).replace("-", "−");
    if (this.output) this.output.textContent = format(s, false);
    for (const title of this.titles) title.textContent = title.dataset.template.replace("{s}", format(s, false));
    for (const cell of this.cells) {
      const t = frameAt(cell, s), note = notes && (notes.rows[cell.row] || [])[cell.index];
      const text = cell.template.replace("{t}", format(t, cell.signed));
      cell.caption.textContent = [text, note].filter(Boolean).join(" · ");
      cell.caption.classList.toggle("live-stale", Boolean(note) && !fresh);
    }
  }

  // Every frame whose latent the value moves, and any not yet drawn, in one batch.
  async draw() {
    const s = this.value(), k = this.data.k;
    const due = this.cells.filter(cell => cell.drawnAt === null || (cell.c !== 0 && cell.drawnAt !== s));
    if (!due.length) return false;
    const batch = new Float32Array(k * due.length);
    const latents = due.map((cell, i) => {
      const z = frameLatent(cell.op, cell.a, cell.b, frameAt(cell, s));
      batch.set(z, k * i);
      return z;
    });
    const pixels = await this.decode(batch, due.length), n = this.frameSize;
    due.forEach((cell, i) => {
      this.paint(cell.canvas.getContext("2d"), pixels, n * i, 0, 0);
      cell.canvas.__latent = latents[i];   // what is drawn, for tests and benchmarks
      cell.drawnAt = s;
    });
    return this.value() !== s;
  }
}

const KINDS = {sliders: Sliders, frames: Frames};

export default function (component) {
  const {data, parentElement, setStateValue} = component;
  const Kind = KINDS[data.kind] || Sliders;
  if (!(parentElement.__live instanceof Kind)) {
    if (parentElement.__live) parentElement.__live.root.remove();
    parentElement.__live = new Kind(parentElement);
  }
  parentElement.__live.update(data, setStateValue);
}
