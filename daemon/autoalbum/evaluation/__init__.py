"""Scores against labelled folders, and plots."""
