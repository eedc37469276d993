"""Media decoding helpers (streamed, bounded memory) shared by the extractors."""
