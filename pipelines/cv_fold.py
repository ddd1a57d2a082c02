"""DVC stage ``cv_fold@<k>``: cross-validation fold k (the fold number is the argument).

The logic lives in ``shoprec.stages.cv_fold``; this script only wires it to ``dvc.yaml``.
"""

from shoprec.stages import main

if __name__ == "__main__":
    main("cv_fold")
