"""DVC stage ``validate``: check the ingested tables against the suites in expectations/.

The logic lives in ``shoprec.stages.validate``; this script only wires it to ``dvc.yaml``.
"""

from shoprec.stages import main

if __name__ == "__main__":
    main("validate")
