"""Exit 0 when a PostgreSQL server answers at the given SQLAlchemy URL, 1 otherwise."""

from __future__ import annotations

import sys

from carnet.db import Database
from carnet.errors import DatabaseUnavailable


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m carnet.devtools.pgcheck URL", file=sys.stderr)
        return 2
    database = Database(argv[0], pool_size=1)
    try:
        database.ping()
    except DatabaseUnavailable:
        return 1
    finally:
        database.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
