"""The monitoring flow's checks: data drift, recommendation drift and online quality."""
