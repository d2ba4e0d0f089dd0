"""Albums: names, identities across reclusters, the symlink tree, and the sort job."""
