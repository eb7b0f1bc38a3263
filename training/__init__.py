"""Fashion-MNIST convolutional VAE: the model and its data at the top (``model``, ``data``, ``losses``,
``sampling``, ``category_latents``, ``inference``, ``labelled``, ``checkpoint``), then one sub-package
per concern: ``fit`` (training and fine-tuning), ``evaluation`` (metrics, the judge classifier, the
report), ``synthesis`` (embeddings and maps, synthetic images, your own pictures, export) and
``commands`` (``python -m training <command>``, listed in ``cli``). docs/architecture.md has the map.

    import training
    model = training.load_model("assets")

The names below are imported when first used, so that ``python -m training --help`` does not load
torch.
"""
import importlib

_EXPORTS = {"CATEGORIES": "data", "DataError": "data", "ProjectError": "errors", "VAE": "model",
            "VAEConfig": "model", "ModelLoadError": "model", "load_model": "model", "read_config": "model"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
