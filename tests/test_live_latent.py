"""The latent arithmetic the browser does while a control is dragged (views/live_latent.js) against the
views' own numpy (explorer/latent.py, training/sampling.py, the views): run under Node.js on the
vectors the server sends (explorer/live_frames.py), it gives the same float32 latents. Where the
browser does the view's double-precision operations in the same order the latents are identical; where
the order differs (noise scaled before or after the covariance, a float32 mix) they differ by at most
one float32 rounding at the vector's scale."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from conftest import ROOT
from explorer import latent as lat
from explorer.assets import load_bundle
from explorer.live_frames import Frames
from training.synthesis import concepts as C
from training.synthesis.augment import around_posterior
from views import sampling

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed (scripts/setup.sh needs it)")

# Reads a Frames table and the values of the control, prints each frame's latent at each value.
HARNESS = """
const fs = require("fs");
eval(fs.readFileSync(process.argv[1], "utf8"));
const job = JSON.parse(fs.readFileSync(0, "utf8"));
const vectors = vectorsOf(job.vectors, job.k);
const out = job.values.map(s => job.rows.flatMap(row => row.frames.map(([op, a, b, o, c]) =>
  Array.from(frameLatent(op, vectors[a], vectors[b], frameAt({o, c}, s))))));
const set = job.set ? Array.from(setCoordinates(vectors[0], job.set)) : null;
console.log(JSON.stringify({frames: out, set}));
"""


def browser_latents(frames: Frames, values, set_dims=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Each frame's float32 latent at each control value (values × frames × k), as the browser
    computes it; with ``set_dims``, the first vector with those coordinates set."""
    job = {**frames.data(), "values": list(values), "set": set_dims}
    done = subprocess.run([NODE, "-e", HARNESS, str(ROOT / "views" / "live_latent.js")],
                          input=json.dumps(job), capture_output=True, text=True, check=True, timeout=60)
    out = json.loads(done.stdout)
    coordinates = None if out["set"] is None else np.asarray(out["set"], np.float32)
    return np.asarray(out["frames"], np.float32), coordinates


def assert_float32_rounding(browser: np.ndarray, numpy: np.ndarray) -> None:
    """Equal to within one float32 rounding at each vector's scale (its largest magnitude)."""
    numpy = np.asarray(numpy, np.float64).astype(np.float32)
    scale = np.abs(numpy).max(-1, keepdims=True).astype(np.float32)
    assert (np.abs(browser.astype(np.float64) - numpy) <= np.spacing(scale)).all()


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(ROOT / "assets")


def test_a_coordinate_set_and_a_straight_path_are_the_views_own_numbers(bundle):
    a, b = bundle.mu[3], bundle.mu[40]
    f = Frames(bundle.latent_dim)
    f.row([f.frame("mix", a, b, 0.0, 1.0)])
    values = [0.0, 0.01, 0.37, 0.5, 0.99, 1.0]
    got, coordinates = browser_latents(f, values, set_dims={"7": 1.25, "100": -2.5})
    want = lat.path_at(a, b, values, "linear").astype(np.float32)
    assert np.array_equal(got[:, 0], want)
    assert np.array_equal(coordinates, lat.set_coordinate(lat.set_coordinate(a, 7, 1.25), 100, -2.5))


def test_the_spherical_path_matches_slerp_including_where_it_is_the_line(bundle):
    a, b = bundle.mu[3].astype(np.float64), bundle.mu[40].astype(np.float64)
    values = [0.0, 0.2, 0.5, 0.83, 1.0]
    for end in (b, np.zeros_like(b), a * 2.0):   # an arc; a zero endpoint; the same direction
        f = Frames(bundle.latent_dim)
        f.row([f.frame("slerp", a, end, 0.0, 1.0)])
        got, _ = browser_latents(f, values)
        assert_float32_rounding(got[:, 0], lat.path_at(a, end, values, "spherical"))
    assert not np.allclose(lat.path_at(a, b, [0.5], "spherical"), lat.path_at(a, b, [0.5], "linear"))


def test_a_concepts_strip_is_z_plus_s_times_d_at_each_strength(bundle):
    z, d = bundle.category_mean[0], bundle.category_mean[2] - bundle.category_mean[0]
    f = Frames(bundle.latent_dim)
    f.row([f.frame("line", z, d, 0.0, c) for c in C.strengths(1.0, 9)])
    for strength in (0.5, 2.0, 3.25, 5.0):
        got, _ = browser_latents(f, [strength])
        assert_float32_rounding(got[0], C.push(z, d, C.strengths(strength, 9)))


@pytest.mark.parametrize("kind, rank", [(sampling.CLUSTERS, None), (sampling.CLUSTERS, 2),
                                        (sampling.PAPERS, None), (sampling.ISOTROPIC, None)])
def test_samples_are_their_centre_plus_the_noise_scale_times_a_fixed_offset(bundle, kind, rank):
    c, n, seed = 4, 12, 7
    order = bundle.category_mixtures.components(c)
    _, _, centres, _ = sampling.draw(bundle, c, kind, order, rank, n, 0.5, seed)
    f = Frames(bundle.latent_dim)
    offsets = sampling.offsets(bundle, c, kind, order, rank, n, seed)
    f.row([f.frame("line", m, o) for m, o in zip(centres, offsets, strict=True)])
    values = [0.0, 0.05, 0.5, 1.35, 2.0]
    got, _ = browser_latents(f, values)
    for s, frame in zip(values, got, strict=True):
        assert_float32_rounding(frame, sampling.draw(bundle, c, kind, order, rank, n, s, seed)[0])


def test_variations_are_mu_plus_t_times_a_fixed_sigma_epsilon(bundle):
    mu, logvar, n, seed = bundle.mu[11], bundle.logvar[11], 8, 3
    offsets, _ = around_posterior(np.zeros_like(mu), logvar, n, 1.0, np.random.default_rng(seed))
    f = Frames(bundle.latent_dim)
    f.row([f.frame("line", mu, o) for o in offsets])
    values = [0.5, 1.0, 8.0, 12.0]
    got, _ = browser_latents(f, values)
    for t, frame in zip(values, got, strict=True):
        assert_float32_rounding(frame, around_posterior(mu, logvar, n, t, np.random.default_rng(seed))[0])


def test_hybrids_and_fixed_frames(bundle):
    pairs = lat.hybrid_pairs(bundle.labels, 7, 9, 5, 0)
    ia, ib = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    f = Frames(bundle.latent_dim)
    for o, c in ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0)):   # the first items, the second, the hybrids
        f.row([f.frame("mix", bundle.mu[i], bundle.mu[j], o, c) for i, j in pairs])
    assert len(f.vectors) == 10   # each endpoint sent once
    for mix in (0.0, 0.35, 1.0):
        got, _ = browser_latents(f, [mix])
        assert np.array_equal(got[0][:5], bundle.mu[ia]) and np.array_equal(got[0][5:10], bundle.mu[ib])
        exact = (1 - mix) * bundle.mu[ia].astype(np.float64) + mix * bundle.mu[ib]   # not float32 arithmetic
        assert_float32_rounding(got[0][10:], exact)


def test_a_frame_of_an_unknown_path_is_refused():
    f = Frames(4)
    with pytest.raises(ValueError, match="unknown path 'curve'"):
        f.frame("curve", np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match="2 captions for 1 frames"):
        f.row([f.frame("line", np.zeros(4), np.ones(4))], captions=["a", "b"])
