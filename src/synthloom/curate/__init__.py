"""Curation: per-record checks (filters, constraint verification, code execution) and
dataset-wide steps (dedup). Recipes list them under `curate:`; each is registered like a stage."""
