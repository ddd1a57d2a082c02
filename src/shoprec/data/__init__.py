"""Sources into canonical events/items tables, the raw-table format, the split by time."""
