"""DVC stage ``train_ranker``: the two-stage model (candidates + XGBoost ranker).

The logic lives in ``shoprec.stages.train_ranker``; this script only wires it to ``dvc.yaml``.
"""

from shoprec.stages import main

if __name__ == "__main__":
    main("train_ranker")
