"""The core library: the pipeline, the round lifecycle, storage and labelling (no adapter imports)."""
