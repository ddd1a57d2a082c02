"""Privacy by design: pseudonymised user ids (a keyed HMAC) and the deletion list."""
