"""DVC stage ``features``: interaction matrices with event-type weights, and id maps.

The logic lives in ``shoprec.stages.features``; this script only wires it to ``dvc.yaml``.
"""

from shoprec.stages import main

if __name__ == "__main__":
    main("features")
