"""`tagger data-stats`: not implemented yet (work in progress in this session)."""
