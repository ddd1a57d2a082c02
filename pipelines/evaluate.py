"""DVC stage entry point. Stage ``evaluate``: full-ranking test metrics for every trained model."""

from shoprec.stages import main

if __name__ == "__main__":
    main("evaluate")
