"""Report: results tables, confusion matrices, the fusion comparison and its verdict.

``summary`` (summary.md / .html / .csv and figures; ``python -m trimodal.report.summary``),
``clip`` (the CLIP stage's table and its text2image grid), ``explorer`` (the static results
explorer).

Add a table or figure of the report here.
"""
