"""Faces: found and described in each photo, grouped into persons, shown as the People/ tree."""
