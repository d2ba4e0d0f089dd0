"""Albums as keywords, and named persons with their faces, in XMP sidecars that digiKam,
darktable, Immich and PhotoPrism read."""
