"""The latent explorer's computations: plain functions, testable without Streamlit."""
