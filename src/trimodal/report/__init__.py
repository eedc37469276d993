"""Report: results tables, confusion matrices, the fusion comparison and its verdict.

``summary`` (summary.md / .html / .csv and figures; ``python -m trimodal.report.summary``).

Add a table or figure of the report here.
"""
