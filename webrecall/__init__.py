"""webrecall: recall the code-related pages of Common Crawl."""
