"""DVC stage entry point. Stage ``ingest``: read the configured source into canonical Parquet tables."""

from shoprec.stages import main

if __name__ == "__main__":
    main("ingest")
