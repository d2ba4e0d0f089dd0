"""Clustering: vectors into groups, and how many groups."""
