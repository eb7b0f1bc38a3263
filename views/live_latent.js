// The latent arithmetic the live views do in the browser, written as explorer/latent.py and the views
// do it in numpy: in double precision, in the same order, then rounded to float32 for the decoder.
// tests/test_live_latent.py runs these functions under Node.js and checks each against numpy.
// Plain functions (no module syntax): views/live.py puts this file before views/live.js.

// A copy of `base` with each listed coordinate set: the latent sliders (explorer.latent.set_coordinate).
function setCoordinates(base, values) {
  const z = Float64Array.from(base);
  for (const [dim, value] of Object.entries(values)) z[+dim] = value;
  return Float32Array.from(z);
}

// The latent of one frame at position t on its path from a by b:
//   "line"  a + t·b          a point pushed along a direction (Concepts: z + s·d), or a mean plus a
//                            fixed offset scaled (Sampling: mean + scale·ε; Variations: μ + T·σε)
//   "mix"   (1 − t)·a + t·b  the straight path from a to b (Interpolation's linear path, Hybrids)
//   "slerp" the great-circle path of the directions, the norm going linearly (interpolate_spherical)
function frameLatent(op, a, b, t) {
  const k = a.length, z = new Float32Array(k);
  if (op === "line") {
    for (let i = 0; i < k; i++) z[i] = a[i] + t * b[i];
  } else if (op === "mix" || op === "slerp") {
    const arc = op === "slerp" && slerpAngle(a, b);
    if (!arc) {
      for (let i = 0; i < k; i++) z[i] = (1 - t) * a[i] + t * b[i];
    } else {
      const {na, nb, omega} = arc;
      const wa = Math.sin((1 - t) * omega), wb = Math.sin(t * omega), so = Math.sin(omega);
      const norm = (1 - t) * na + t * nb;
      for (let i = 0; i < k; i++) z[i] = (wa * (a[i] / na) + wb * (b[i] / nb)) / so * norm;
    }
  } else {
    throw new Error(`unknown path ${op}`);
  }
  return z;
}

// The angle between a's and b's directions and their norms, or null where slerp is the straight line
// (a zero endpoint, or directions less than 1e-6 apart), as explorer/latent.py decides.
function slerpAngle(a, b) {
  let na = 0, nb = 0, dot = 0;
  for (let i = 0; i < a.length; i++) { na += a[i] * a[i]; nb += b[i] * b[i]; }
  na = Math.sqrt(na); nb = Math.sqrt(nb);
  if (na === 0 || nb === 0) return null;
  for (let i = 0; i < a.length; i++) dot += (a[i] / na) * (b[i] / nb);
  const omega = Math.acos(Math.min(1, Math.max(-1, dot)));
  return omega < 1e-6 ? null : {na, nb, omega};
}

// A frame's position for the control's value s: t = o + c·s (c = 0: a frame the control does not move).
function frameAt(frame, s) {
  return frame.o + frame.c * s;
}

// An (m, k) table of float64 vectors sent as base64 (little-endian), as rows.
function vectorsOf(base64, k) {
  const text = atob(base64), bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  const all = new Float64Array(bytes.buffer), rows = [];
  for (let r = 0; r < all.length / k; r++) rows.push(all.subarray(r * k, (r + 1) * k));
  return rows;
}
