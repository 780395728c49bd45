"""Printing a rich table so that every cell stays whole, one row a line.

Rich fits a table to the terminal by wrapping and cutting cells, which splits or truncates ids
(``5a8c0ff7…``) that an operator copies into ``cascade result`` or ``dead replay``. Printed at
its natural width, a row is one line: a narrow terminal wraps it on screen, but a copied id
and a ``grep`` of the output see it whole.
"""

from __future__ import annotations

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

__all__ = ["print_whole"]


def print_whole(console: Console, table: Table) -> None:
    natural = Measurement.get(console, console.options.update(width=10_000), table).maximum
    # Console.print never renders wider than the console; a table's own width it keeps.
    if natural > console.width:
        table.width = natural
    console.print(table, crop=False)
