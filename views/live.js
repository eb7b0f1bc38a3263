// Live decoding in the browser: the explorer's latent sliders, drawn while they are dragged.
//
// The decoder is the model's own, exported as ONNX (training/synthesis/decoder_onnx.py), run by
// onnxruntime-web's WebAssembly backend; both are served by the app itself (views/live.py). The
// server hears of a drag once, on release (setStateValue), never during it. If the runtime or the
// decoder does not load within data.timeout_ms, the component says why (state "failed") and the view
// falls back to decoding on the server.
//
// Streamlit calls the default export again whenever `data` changes; the runtime, the session and the
// controls are kept between calls (module-level state survives reruns), and the controls are built
// again only when the server sends another start, other dimensions or a reset (data.version).

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

async function session(ort, data) {
  const url = new URL(data.decoder, window.location.origin).href;
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

// 28×28 images in [0, 1] into a canvas, as the server makes its pictures (explorer/images.py): each
// pixel round(clip(x, 0, 1) · 255); a strip's frames side by side on a grey ground, 2 pixels apart.
const SIDE = 28, PAD = 2, GROUND = Math.round(0.35 * 255);
function paintFrame(ctx, pixels, offset, x0, y0) {
  const image = ctx.createImageData(SIDE, SIDE), out = image.data;
  for (let i = 0; i < SIDE * SIDE; i++) {
    const g = Math.round(Math.min(1, Math.max(0, pixels[offset + i])) * 255);
    out[4 * i] = out[4 * i + 1] = out[4 * i + 2] = g;
    out[4 * i + 3] = 255;
  }
  ctx.putImageData(image, x0, y0);
}

function paintGround(canvas) {
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = `rgb(${GROUND}, ${GROUND}, ${GROUND})`;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}

function build(root, data) {
  const strip = data.strip.length;
  root.innerHTML = `
    <div class="live-top">
      <div class="live-sliders"></div>
      <figure class="live-main">
        <canvas class="live-image" width="${SIDE}" height="${SIDE}"></canvas>
        <figcaption class="live-caption"></figcaption>
        <div class="live-status"></div>
      </figure>
    </div>
    <p class="live-heading"><strong>Traversal strip</strong>: one dimension swept from −3 to +3, all others
      as set above.</p>
    <canvas class="live-strip" width="${PAD + strip * (SIDE + PAD)}" height="${SIDE + 2 * PAD}"></canvas>
    <div class="live-strip-labels">${data.strip.map(v => `<span>${v >= 0 ? "+" : ""}${v.toFixed(1)}</span>`).join("")}</div>`;
  paintGround(root.querySelector(".live-strip"));
  const sliders = root.querySelector(".live-sliders");
  for (const [dim, label, lo, hi, value] of data.dims) {
    const row = document.createElement("label");
    row.className = "live-slider";
    row.innerHTML = `<span class="live-label" title="${label}">${label}</span>
      <span class="live-track"><input type="range" min="${lo}" max="${hi}" step="0.01" value="${value}"
        data-dim="${dim}" aria-label="${label}"><output>${value.toFixed(2)}</output></span>`;
    sliders.appendChild(row);
  }
}

// One controller per mounted component, kept on its element across Streamlit's calls.
class Live {
  constructor(parent) {
    this.root = document.createElement("div");
    this.root.className = "live";
    parent.appendChild(this.root);
    this.ready = null;       // {ort, s} once the runtime and the decoder are loaded
    this.loading = null;
    this.busy = false;       // a decode is running
    this.again = false;      // …and another was asked for meanwhile
    this.scheduled = false;  // a frame is requested
    this.frames = window.__liveFrames ||
      (window.__liveFrames = {count: 0, strips: 0, times: [], latency: []});
    this.stripDone = [null, null];   // the latent and sweep each half of the strip was drawn for
    this.nextPart = 0;
  }

  update(data, setStateValue) {
    this.data = data;
    this.setStateValue = setStateValue;
    this.base = Float32Array.from(data.base);
    const signature = JSON.stringify([data.version, data.base, data.dims.map(d => d.slice(0, 4))]);
    if (this.signature !== signature) {   // another start, other dimensions, a reset: new controls
      build(this.root, data);
      this.signature = signature;
      this.bind();
    }
    this.describe();
    if (!this.loading) this.loading = this.load();
    else if (this.ready) this.request();
  }

  bind() {
    this.inputs = [...this.root.querySelectorAll("input[type=range]")];
    this.image = this.root.querySelector(".live-image");
    this.strip = this.root.querySelector(".live-strip");
    this.caption = this.root.querySelector(".live-caption");
    this.status = this.root.querySelector(".live-status");
    for (const input of this.inputs) {
      const output = input.parentElement.querySelector("output");
      input.addEventListener("input", () => {
        this.inputAt = performance.now();
        output.textContent = parseFloat(input.value).toFixed(2);
        this.describe();
        this.request();
      });
      // the release: one script run; "at" tells this release from an earlier one that moved the same
      input.addEventListener("change", () => this.setStateValue("moved", {dims: this.moved(),
                                                                          at: Date.now() + Math.random()}));
    }
  }

  // The latent the sliders set: the start, with each shown dimension at its slider's value.
  latent() {
    const z = this.base.slice();
    for (const input of this.inputs) z[+input.dataset.dim] = parseFloat(input.value);
    return z;
  }

  moved() {
    const out = {};
    for (const input of this.inputs) {
      const d = +input.dataset.dim, v = parseFloat(input.value);
      if (Math.abs(v - this.base[d]) > 1e-3) out[d] = Math.round(v * 100) / 100;
    }
    return out;
  }

  describe() {
    this.caption.textContent = `decoded · ${Object.keys(this.moved()).length} dimension(s) moved from ` +
      this.data.base_name;
  }

  async load() {
    this.status.textContent = "loading the decoder…";
    const started = performance.now();
    const data = this.data;
    try {
      this.ready = await withTimeout((async () => {
        const {ort, downloaded} = await runtime(data);
        const loaded = await session(ort, data);
        await forget(new Set([data.runtime.module, data.runtime.wasm, data.decoder].map(
          u => new URL(u, window.location.origin).href)));
        return {ort, s: loaded.s, downloaded: downloaded + loaded.downloaded};
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

  // One decode per animation frame at most, the latest slider position winning: the image and half
  // the strip in one batch (1 + 6 or 1 + 5 latents), so the image follows at the display's rate and
  // the strip every second frame. Frames go on after the last input until the strip is whole.
  request() {
    if (this.scheduled || !this.ready) return;
    this.scheduled = true;
    requestAnimationFrame(() => { this.scheduled = false; this.draw(); });
  }

  async draw() {
    if (this.busy) { this.again = true; return; }   // the running decode asks again when it ends
    this.busy = true;
    const t0 = performance.now(), inputAt = this.inputAt;
    const {ort, s} = this.ready, values = this.data.strip, sweep = this.data.sweep, k = this.base.length;
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
    try {
      const out = await s.run({z: new ort.Tensor("float32", batch, [1 + frames.length, k])});
      const pixels = out.image.data, n = SIDE * SIDE;
      paintFrame(this.image.getContext("2d"), pixels, 0, 0, 0);
      const strip = this.strip.getContext("2d");
      frames.forEach((f, i) => paintFrame(strip, pixels, n * (i + 1), PAD + f * (SIDE + PAD), PAD));
      if (part !== null) this.stripDone[part] = key;
      this.image.dataset.latent = Array.from(z).join(",");   // what is drawn, for tests and benchmarks
      if (this.stripDone[0] === key && this.stripDone[1] === key) this.strip.dataset.latent = key;
      this.frames.count += 1;
      this.frames.strips += part === 1 ? 1 : 0;   // a strip is new again when its second half is drawn
      this.frames.times.push(performance.now() - t0);   // decode and paint
      if (inputAt !== undefined && inputAt !== this.shownInput) {   // the first frame after an input
        this.frames.latency.push(performance.now() - inputAt);        // input → pixels
        this.shownInput = inputAt;
      }
    } finally {
      this.busy = false;
    }
    if (this.again || this.stripDone[0] !== this.stripDone[1]) { this.again = false; this.request(); }
  }
}

export default function (component) {
  const {data, parentElement, setStateValue} = component;
  const live = parentElement.__live || (parentElement.__live = new Live(parentElement));
  live.update(data, setStateValue);
}
