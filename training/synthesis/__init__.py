"""What a trained model makes: latent embeddings and 2-D ``maps`` for the explorer (``embed``),
synthetic labelled images (``generate``), variants of a labelled set (``augment``), your own pictures
prepared and encoded (``prepare``, ``encode``), concept directions (``concepts``), sample sheets
(``sample_sheets``) and a half-precision copy to ship (``export``)."""
