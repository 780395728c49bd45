"""Batches: OpenAI Batch API input checked line by line, batch records, output files, cancel.

The parts, each in its own module:

- ``lines``: the JSONL input checked and planned line by line before anything is written
  (``parse_batch_lines``, ``BatchInputError`` naming line numbers and fields).
- ``records``: the batch record, its counts and status, OpenAI's Batch object.
- ``store``: batch records and their job lists in Redis, cancel included (``cancel``: the script;
  ``opening``: the script that writes a new batch's record before its jobs).
- ``progress``: waiting for a batch and following its jobs as they end.
- ``output``: OpenAI's batch output and errors lines.
- ``facade``: ``Batches``, the one object callers use.
"""

from broker.batches.facade import Batches, BatchIncomplete
from broker.batches.lines import (
    BATCH_ENDPOINT,
    BatchInputError,
    BatchLine,
    LineError,
    needs_for_model,
    parse_batch_lines,
)
from broker.batches.opening import BatchIdTaken
from broker.batches.output import output_line
from broker.batches.records import (
    CANCELLED,
    BatchCounts,
    BatchRecord,
    BatchStatus,
    UnknownBatch,
    batch_status,
    new_batch_id,
)

__all__ = [
    "BATCH_ENDPOINT",
    "CANCELLED",
    "BatchCounts",
    "BatchIdTaken",
    "BatchIncomplete",
    "BatchInputError",
    "BatchLine",
    "BatchRecord",
    "BatchStatus",
    "Batches",
    "LineError",
    "UnknownBatch",
    "batch_status",
    "needs_for_model",
    "new_batch_id",
    "output_line",
    "parse_batch_lines",
]
