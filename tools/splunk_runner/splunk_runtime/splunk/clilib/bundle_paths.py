import os


def make_splunkhome_path(parts):
    home = os.environ.get("SPLUNK_HOME")
    if not home:
        raise KeyError("SPLUNK_HOME is not set")
    return os.path.join(home, *parts)
