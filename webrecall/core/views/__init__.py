"""Read models for the adapters: corpus and domain statistics."""
