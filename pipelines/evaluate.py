"""DVC stage ``evaluate``: full-ranking test metrics for every trained model.

The logic lives in ``shoprec.stages.evaluate``; this script only wires it to ``dvc.yaml``.
"""

from shoprec.stages import main

if __name__ == "__main__":
    main("evaluate")
