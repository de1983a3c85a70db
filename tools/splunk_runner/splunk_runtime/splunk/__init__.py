"""Test double of Splunk's `splunk` package (see ../README.md)."""
