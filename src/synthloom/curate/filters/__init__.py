"""Filters: one small class a file, each a curation step that rejects with a reason."""

from .base import Filter, FilterConfig
from .language import LanguageFilter
from .length import LengthFilter
from .refusal import RefusalFilter
from .regex import RegexFilter
from .repetition import RepetitionFilter
from .similarity import SimilarityFilter
from .truncated import TruncatedFilter

__all__ = ["Filter", "FilterConfig", "LengthFilter", "RepetitionFilter", "LanguageFilter", "RegexFilter",
           "RefusalFilter", "TruncatedFilter", "SimilarityFilter", "FILTERS"]

FILTERS = {"length": LengthFilter, "repetition": RepetitionFilter, "language": LanguageFilter,
           "regex": RegexFilter, "refusal": RefusalFilter, "truncated": TruncatedFilter,
           "similarity": SimilarityFilter}
