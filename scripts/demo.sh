#!/usr/bin/env bash
# Set up, write a few real sample photos, sort them into albums and show the result.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
rm -rf sample/photos
.venv/bin/autoalbum sample-photos sample/photos
.venv/bin/autoalbum sort sample/photos --out sample/albums
echo
echo "albums in sample/albums (symlinks to sample/photos):"
for album in sample/albums/*/; do
    echo "  $(basename "$album"): $(ls "$album" | tr '\n' ' ')"
done
