"""DVC stage ``split``: train / validation / test by time.

The logic lives in ``shoprec.stages.split``; this script only wires it to ``dvc.yaml``.
"""

from shoprec.stages import main

if __name__ == "__main__":
    main("split")
