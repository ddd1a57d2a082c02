"""Model inputs built from events: user × item interaction matrices and the two-tower sequences."""
