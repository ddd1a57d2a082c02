"""shoprec: product recommendations for online shops."""

__version__ = "0.1.0"
