import configparser
import os

from splunk.clilib.bundle_paths import make_splunkhome_path


def getConfKeyValue(conf, stanza, key):
    path = make_splunkhome_path(["etc", "system", "local", conf + ".conf"])
    parser = configparser.ConfigParser(interpolation=None)
    if not os.path.exists(path):
        raise KeyError("%s.conf does not exist" % conf)
    parser.read(path)
    return parser.get(stanza, key)
