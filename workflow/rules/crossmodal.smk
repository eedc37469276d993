# Cross-modal mapping between embedding spaces, judged by nearest-neighbour retrieval.
