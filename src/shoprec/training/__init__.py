"""Training recipes: how each model that needs more than ``fit(train, items)`` is trained
(the two-tower network with early stopping and refit, the two-stage candidates + ranker), and
the table of every model by the name used in ``params.yaml``."""
