#!/usr/bin/env bash
# Refresh the local copy of MathJax 3 that the website serves (no CDN: the pages render math
# offline, and tests/test_website.py needs no network).
#
# Fetches mathjax@$MATHJAX_VERSION with npm into a temporary folder and copies what the book
# uses (the combined TeX-to-CommonHTML component, its fonts and the TeX extensions it may load
# on demand, about 2 MB) into _extra/_static/mathjax/. _config.yml serves that folder with
# `html_extra_path: [_extra]` and `mathjax_path: mathjax/tex-mml-chtml.js`. It lives outside
# _static/ on purpose: Jupyter Book adds a <script> tag for every .js file under _static/.
#
# Usage: scripts/fetch_mathjax.sh    (needs npm and the npm registry; commit the result)
set -euo pipefail

MATHJAX_VERSION="${MATHJAX_VERSION:-3.2.2}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$repo/_extra/_static/mathjax"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm install --no-save --no-audit --no-fund --silent "mathjax@$MATHJAX_VERSION")
src="$tmp/node_modules/mathjax"
rm -rf "$dest"
mkdir -p "$dest/output/chtml/fonts" "$dest/input/tex"
cp "$src/es5/tex-mml-chtml.js" "$dest/"
cp -r "$src/es5/output/chtml/fonts/woff-v2" "$dest/output/chtml/fonts/"
cp -r "$src/es5/input/tex/extensions" "$dest/input/tex/"
cp "$src/LICENSE" "$dest/LICENSE"
echo "MathJax $MATHJAX_VERSION (npm package mathjax, Apache License 2.0)" > "$dest/VERSION"
echo "MathJax $MATHJAX_VERSION copied to $dest ($(du -sh "$dest" | cut -f1))"
