"""Serve a local Common-Crawl-shaped folder over HTTP (byte ranges, CDX)."""
