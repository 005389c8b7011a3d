"""Labels, URL patterns, discovery, the annotation queue, and the annotators' work: accounts, claims, decisions,
review, dashboard, item_view."""
