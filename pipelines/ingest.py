"""DVC stage ``ingest``: read the configured data source into canonical Parquet tables.

The logic lives in ``shoprec.stages.ingest``; this script only wires it to ``dvc.yaml``.
"""

from shoprec.stages import main

if __name__ == "__main__":
    main("ingest")
