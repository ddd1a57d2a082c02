"""DVC stage ``train_two_tower``: the TensorFlow two-tower retrieval model.

The logic lives in ``shoprec.stages.train_two_tower``; this script only wires it to ``dvc.yaml``.
"""

from shoprec.stages import main

if __name__ == "__main__":
    main("train_two_tower")
