"""DVC stage ``cv``: the cross-validation folds side by side.

The logic lives in ``shoprec.stages.cv``; this script only wires it to ``dvc.yaml``.
"""

from shoprec.stages import main

if __name__ == "__main__":
    main("cv")
