"""Labels, URL patterns, discovery, the annotation queue and annotators."""
