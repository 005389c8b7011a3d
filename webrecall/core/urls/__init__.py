"""URLs: registered domains, host/path splitting, and the URL patterns that labels are written in."""
