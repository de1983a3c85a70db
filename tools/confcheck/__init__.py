"""Every .conf of the built add-on checked, key by key, against Splunk's published .conf.spec
(the key lists under specs/, for each supported Splunk version) and the add-on's own README
specs. AppInspect does not do this: it accepts keys Splunk never reads."""
