"""Build hook that ucc-gen calls after it has assembled output/<app>.

Splunk Cloud forbids UDP traffic. botocore's (deprecated, opt-in) client-side monitoring can
open a UDP socket when AWS_CSM_ENABLED is set in the environment; TrailWatch never uses it,
so the bundled copy is rewritten to have no such code path. The build fails loudly if the
expected code is not found (for example after a botocore upgrade), rather than shipping an
add-on that AppInspect rejects.
"""
import os
import shutil

_CSM_START = "    def _create_csm_monitor(self):\n"
_CSM_REPLACEMENT = (
    "    def _create_csm_monitor(self):\n"
    "        # TrailWatch: client-side monitoring (UDP) removed at build time for Splunk Cloud.\n"
    "        return None\n"
)


def _disable_botocore_csm(lib_dir):
    path = os.path.join(lib_dir, "botocore", "session.py")
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    start = source.find(_CSM_START)
    if start < 0:
        raise RuntimeError("additional_packaging: _create_csm_monitor not found in " + path)
    end = source.find("\n    def ", start + len(_CSM_START))
    if end < 0:
        raise RuntimeError("additional_packaging: end of _create_csm_monitor not found")
    body = source[start:end]
    if "SOCK_DGRAM" not in body:
        raise RuntimeError("additional_packaging: unexpected _create_csm_monitor body in " + path)
    source = source[:start] + _CSM_REPLACEMENT + source[end:]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(source)


def cleanup_output_files(output_path, ta_name):
    lib_dir = os.path.join(output_path, ta_name, "lib")
    _disable_botocore_csm(lib_dir)
    # Command-line helpers of bundled libraries (jmespath's jp.py) are not used by Splunk.
    shutil.rmtree(os.path.join(lib_dir, "bin"), ignore_errors=True)
    for root, dirs, _files in os.walk(os.path.join(output_path, ta_name)):
        for name in list(dirs):
            if name == "__pycache__":
                shutil.rmtree(os.path.join(root, name))
                dirs.remove(name)
