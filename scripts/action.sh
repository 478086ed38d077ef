#!/usr/bin/env bash
# The check step of action.yml: `dropsafe check --base` on a pull request's
# base, SARIF written for code scanning, the text report in the log.
#
# Environment (action.yml sets it from the inputs):
#   DROPSAFE_BASE    revision to diff against (the pull request's base commit)
#   DROPSAFE_PATHS   files or directories to check, space-separated (default .)
#   DROPSAFE         the dropsafe command (default: dropsafe on PATH)
#   GITHUB_OUTPUT    the step's output file: gets `sarif=PATH`
#   RUNNER_TEMP      where the SARIF file goes (default: TMPDIR or /tmp)
# Exit status: dropsafe's (0 clean, 1 findings at the fail level, 2 usage error).
set -euo pipefail

dropsafe=${DROPSAFE:-dropsafe}
base=${DROPSAFE_BASE:-}
if [ -z "$base" ]; then
    echo "::error title=dropsafe::no base revision: run on pull_request events or set the 'base' input"
    exit 2
fi
read -r -a paths <<< "${DROPSAFE_PATHS:-.}"
sarif="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/dropsafe.sarif"

# actions/checkout fetches only the commit it checks out: fetch the base too.
if ! git cat-file -e "$base^{commit}" 2>/dev/null; then
    git fetch --quiet --no-tags --depth=1 origin "$base"
fi

status=0
"$dropsafe" check --base "$base" --format sarif "${paths[@]}" > "$sarif" || status=$?
if [ "$status" -eq 2 ]; then
    exit 2  # dropsafe said why on stderr; there is no report to upload
fi
echo "sarif=$sarif" >> "${GITHUB_OUTPUT:-/dev/null}"
"$dropsafe" check --base "$base" --format text --color always "${paths[@]}" || true
exit "$status"
