"""The persistent library: catalog, vector index, indexing, albums, search."""
