"""``python -m training embed``: latents, category statistics, the learned prior and 2-D maps for the
explorer (``synthesis/embed.py``)."""
from __future__ import annotations

import argparse

from ..errors import ProjectError
from ..latent_prior import PRIOR_COMPONENTS
from ..sampling import MIXTURE_COMPONENTS
from ..synthesis.embed import run_borrowed_embed, run_embed
from ..synthesis.maps import MAPS
from . import arguments as A


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="model directory (model.safetensors + model.json)")
    p.add_argument("--out", required=True, help="directory for embeddings.npz and embeddings.json")
    p.add_argument("--split", choices=("test", "all"), default="test",
                   help="map the 10k test images, or all 70k (default: %(default)s)")
    p.add_argument("--maps", default=",".join(MAPS),
                   help="comma-separated maps to compute (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=A.positive_int, help="first N images of each split only (quick runs)")
    p.add_argument("--mixture-components", type=A.positive_int, default=MIXTURE_COMPONENTS, metavar="K",
                   help="Gaussians per category for the 'mixture' sampler (default: %(default)s)")
    p.add_argument("--prior-components", type=A.positive_int, default=PRIOR_COMPONENTS, metavar="K",
                   help="Gaussians of the learned prior, the 'learned' sampler (at most: fewer where there "
                        "are fewer than 2 × latent size training images per component; default: %(default)s)")
    p.add_argument("--latents-from", metavar="DIR",
                   help="for a model whose decoder alone was fine-tuned from DIR's model: check that the "
                        "encoders are the same and store only this decoder's reconstruction errors, "
                        "borrowing DIR's latents, maps and statistics (a second shipped model at the cost "
                        "of its weights)")
    A.add_threads(p)
    A.add_device(p)
    A.add_data_dir(p)


def run(ns: argparse.Namespace) -> None:
    if ns.latents_from:
        given = [flag for flag, value, default in (
            ("--split", ns.split, "test"), ("--maps", ns.maps, ",".join(MAPS)), ("--limit", ns.limit, None),
            ("--mixture-components", ns.mixture_components, MIXTURE_COMPONENTS),
            ("--prior-components", ns.prior_components, PRIOR_COMPONENTS)) if value != default]
        if given:
            raise ProjectError(f"{' '.join(given)}: --latents-from takes these from the lender's embeddings; "
                               "drop them")
        run_borrowed_embed(ns.checkpoint, ns.out, ns.latents_from, data_dir=ns.data_dir, threads=ns.threads,
                           command=ns.command_line, device=ns.device)
        return
    run_embed(ns.checkpoint, ns.out, split=ns.split, maps=ns.maps, seed=ns.seed, limit=ns.limit,
              data_dir=ns.data_dir, threads=ns.threads, mixture_components=ns.mixture_components,
              command=ns.command_line, device=ns.device, prior_components=ns.prior_components)
