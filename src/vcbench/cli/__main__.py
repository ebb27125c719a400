"""``python -m vcbench.cli``."""

from vcbench.cli import app

app()
