"""Thin adapters between Splunk's interfaces (REST handlers, modular inputs, search commands,
alert actions) and the pure logic in the other sub-packages."""
