"""DVC stage entry point. Stage ``features``: interaction matrices with event-type weights, and their id maps."""

from shoprec.stages import main

if __name__ == "__main__":
    main("features")
