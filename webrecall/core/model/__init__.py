"""The classifier and what trains and calibrates it: seeds, synthetic pages, thresholds."""
