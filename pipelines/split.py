"""DVC stage entry point. Stage ``split``: train / validation / test by time (``split.strategy`` in params)."""

from shoprec.stages import main

if __name__ == "__main__":
    main("split")
