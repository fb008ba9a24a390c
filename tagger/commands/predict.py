"""`tagger predict`: not implemented yet (work in progress in this session)."""
