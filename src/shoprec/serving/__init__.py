"""Getting recommendations out of a trained model: online (HTTP service) and in batch."""
