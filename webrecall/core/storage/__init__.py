"""Where a round's files live: the object store and the storage layout."""
