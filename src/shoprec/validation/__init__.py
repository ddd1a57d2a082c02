"""Data contracts: Great Expectations suites, batch validation with quarantine, the report."""
