"""Labels: the label sets classification is scored on.

``label_sets`` (the sheet's labels filtered and merged, the label set file read back
(load_labels), the one alignment of feature rows with labels), ``zeroshot`` (relabelling from
the descriptions).

Add a way of deriving labels here.
"""
