"""DVC stage ``train``: fit one model (named as the argument) before the test period.

The logic lives in ``shoprec.stages.train``; this script only wires it to ``dvc.yaml``.
"""

from shoprec.stages import main

if __name__ == "__main__":
    main("train")
