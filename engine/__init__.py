"""Fude's engine: neural style transfer with PyTorch, free of any GUI code so it runs headless."""

__version__ = "0.1.0"
