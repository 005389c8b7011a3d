"""The passes over a WARC and after it: index/recall passes, read-back, dedup, decontamination, expansion, export."""
