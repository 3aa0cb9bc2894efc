"""Write a new Alembic revision from the difference between the models and an empty-or-head schema.

`python -m carnet.devtools.makemigration "message"`: builds a scratch SQLite database at head, then
autogenerates the next revision. Review the file before committing it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from carnet.db import Database
from carnet.migrate import MIGRATIONS_DIR, alembic_config, upgrade


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print('usage: python -m carnet.devtools.makemigration "message"', file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        database = Database(f"sqlite:///{Path(tmp) / 'scratch.db'}", pool_size=1)
        if any((MIGRATIONS_DIR / "versions").glob("*.py")):
            upgrade(database)
        config = alembic_config(database)
        existing = sorted((MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
        rev_id = f"{len(existing) + 1:04d}"
        command.revision(config, message=argv[0], autogenerate=True, rev_id=rev_id)
        database.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
