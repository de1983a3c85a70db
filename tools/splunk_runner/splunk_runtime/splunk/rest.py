def simpleRequest(path, *args, **kwargs):
    raise NotImplementedError(
        "splunk.rest.simpleRequest(%r) is not modelled by the test runtime: the add-on's "
        "code must reach splunkd through splunklib/solnlib." % path)
