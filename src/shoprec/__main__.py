"""``python -m shoprec`` is the ``shoprec`` command."""

from shoprec.cli import app

app(prog_name="shoprec")
