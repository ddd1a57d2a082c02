"""The release workflow above the registry: the evaluation gate, proposing a candidate
(gate + servability + registration), promotion with its data pushed to DVC, and lineage."""
