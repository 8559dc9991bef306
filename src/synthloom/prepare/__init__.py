"""Run setup, written once: recipe → corpus → entity lists and topic trees → pipeline → backends →
store and lock → budget. `run`, `estimate` and every Ray worker start here."""

from .directory import RunDirectory
from .plan import RunPlan, prepare_run
from .session import RunSession, open_session

__all__ = ["RunDirectory", "RunPlan", "prepare_run", "RunSession", "open_session"]
