"""Dataset cards (README.md in the Hugging Face format) for run directories, the generator licence
table, and publishing to the Hugging Face Hub."""

from .licences import Terms, licence_warnings, terms_for
from .write import CARD, run_card_text, write_card_to, write_run_card

__all__ = ["CARD", "Terms", "licence_warnings", "run_card_text", "terms_for", "write_card_to", "write_run_card"]
