"""Albums as keywords in XMP sidecars that digiKam, darktable, Immich and PhotoPrism read."""
