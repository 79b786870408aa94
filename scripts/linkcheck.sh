#!/usr/bin/env bash
# Check the website's external links (needs the internet; not part of CI, which has none).
#
# Runs Sphinx's linkcheck builder through Jupyter Book on the whole book (notebooks come from
# the execution cache, _build/.jupyter_cache, or are executed first). Every link in the text, in
# the bibliography and in the launch buttons is requested; the exit code is 1 if any is broken.
# The report is moved to _build/linkcheck/output.txt (one line per problem) and output.json
# (Jupyter Book 1 writes it into _build/html, where it does not belong).
#
# Usage: scripts/linkcheck.sh [extra jupyter-book options]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jb=.venv/bin/jupyter-book
[[ -x "$jb" ]] || jb=jupyter-book
status=0
"$jb" build . --builder linkcheck "$@" || status=$?
mkdir -p _build/linkcheck
for report in output.txt output.json; do
    [[ -f "_build/html/$report" ]] && mv "_build/html/$report" "_build/linkcheck/$report"
done
echo
if [[ -s _build/linkcheck/output.txt ]]; then
    echo "problems found (_build/linkcheck/output.txt):"
    cat _build/linkcheck/output.txt
else
    echo "no broken external links"
fi
exit "$status"
