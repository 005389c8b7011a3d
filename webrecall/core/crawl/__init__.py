"""Reading the crawl: WARC listing and sampling, HTTP/fsspec readers, the WARC reader, the URL index."""
