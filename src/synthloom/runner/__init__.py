"""The only place with concurrency, retries, backoff, rate limits and the budget: records
through the pipeline (records.py) and the LLM calls they make (calls.py)."""

from .calls import Caller
from .options import CURRENT_STAGE, DEFAULT, RunOptions, RunStats, backoff_delay
from .records import Runner, lineage_entry

__all__ = ["Caller", "Runner", "RunOptions", "RunStats", "backoff_delay", "lineage_entry", "DEFAULT", "CURRENT_STAGE"]
