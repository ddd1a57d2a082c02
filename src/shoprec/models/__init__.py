"""The recommenders: the baselines, the embedding scorer and the two-tower network.

The table of models by the name used in ``params.yaml`` lives above them, in
``shoprec.training.model_table``.
"""
