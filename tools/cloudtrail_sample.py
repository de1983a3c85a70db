"""Where the optional sample of real CloudTrail log files is (S3 delivery format, one
``{"Records": [...]}`` per file): ``$TRAILWATCH_CLOUDTRAIL_SAMPLE``, else the folder that
development machines and CI keep beside the project checkout. A user's clone does not have it:
benchmarks and checks that use it say so and skip, or fall back to generated records."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = os.path.join(os.path.dirname(ROOT), "shared", "data", "aws-cloudtrail-sample")


def sample_dir():
    """The sample folder's path (which may not exist)."""
    return os.environ.get("TRAILWATCH_CLOUDTRAIL_SAMPLE") or DEFAULT
