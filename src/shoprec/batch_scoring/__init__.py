"""Batch scoring: top-K for every active user as resumable Parquet parts (a folder or S3)."""
