"""``python -m splreplay``: see README.md (``./build.sh replay`` runs it)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
