"""Cross-modal: how one modality's embedding maps onto another's.

``evaluate`` (pairs of stores, cross-validated, tables and heatmap), ``methods`` (the
registry: CROSSMODAL_METHODS), ``retrieval`` (metrics beside their chance level), and ``clip``
(text-frame matching with CLIP).

Add a mapping method: register it in ``methods`` (``register_crossmodal_method``).
"""
