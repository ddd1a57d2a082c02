"""DVC stage ``train_sequential``: the SASRec-style sequential model.

The logic lives in ``shoprec.stages.train_sequential``; this script only wires it to
``dvc.yaml``.
"""

from shoprec.stages import main

if __name__ == "__main__":
    main("train_sequential")
