"""Fashion-MNIST convolutional VAE: data, model, losses, training loop and embeddings."""
from .data import CATEGORIES, DataError
from .model import VAE, ModelLoadError, VAEConfig, load_model, read_config

__all__ = ["CATEGORIES", "DataError", "VAE", "VAEConfig", "ModelLoadError", "load_model", "read_config"]
