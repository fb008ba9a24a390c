"""`tagger score`: not implemented yet (work in progress in this session)."""
