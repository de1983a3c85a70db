"""TrailWatch content as code: the saved searches' source files under detections/, checked
against their schema and rendered into the add-on's savedsearches.conf and the docs' index."""
