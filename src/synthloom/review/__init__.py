"""`synthloom review`: a local web app to look through a run's records, decide on them (accept,
reject, relabel, edit), trace bad records to their origin, and measure judge–human agreement.

Decisions live in the run store (review tables); export, report and train apply them through
`overlay.ReviewOverlay`. Nothing here is imported by the CLI at start-up.
"""
