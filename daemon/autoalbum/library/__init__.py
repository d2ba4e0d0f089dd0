"""The persistent library: the catalog (vectors included), indexing, albums, search."""
