"""DVC stage entry point. Stage ``train@<model>``: fit one model on the interactions before the test period."""

from shoprec.stages import main

if __name__ == "__main__":
    main("train")
