"""tastemaker: train a model of your own taste in images."""

__version__ = "0.1.0"
