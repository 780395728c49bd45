"""``python -m broker`` is the ``cascade`` command."""

from broker.cli import main

main()
