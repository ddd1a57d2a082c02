"""DVC stage entry point. Stage ``validate``: check the ingested tables against the suites in ``expectations/``."""

from shoprec.stages import main

if __name__ == "__main__":
    main("validate")
