#!/usr/bin/env bash
# Runs one `ops-gates odoo <step>` with the action's inputs (from the environment, see action.yml)
# and writes its status and JSON answer to $GITHUB_OUTPUT. The CLI comes from the checkout the
# action lives in; its dependencies are installed there on first use.
set -euo pipefail

fail() {
  echo "::error title=ops-gates odoo::$*" >&2
  exit 1
}

command -v node >/dev/null || fail "Node 20 or later is required (actions/setup-node)"
[ -n "${OPS_API_URL:-}" ] || fail "api-url is required"
[ -n "${OPS_TOKEN:-}" ] || fail "token is required"
[ -n "${OPS_RELEASE:-}" ] || fail "release is required"
echo "::add-mask::$OPS_TOKEN"

root=$(cd "$GITHUB_ACTION_PATH/../../.." && pwd)
if [ ! -x "$root/node_modules/.bin/tsx" ]; then
  (cd "$root" && npm ci --ignore-scripts --no-audit --no-fund >&2)
fi

args=(odoo "$OPS_STEP" "$OPS_RELEASE")
add() { if [ -n "$2" ]; then args+=("$1" "$2"); fi; }
case "$OPS_STEP" in
  tests)
    add --log "${OPS_LOG:-}"
    add --exit-code "${OPS_EXIT_CODE:-}"
    add --artifact-url "${OPS_ARTIFACT_URL:-}"
    ;;
  upgrade)
    add --log "${OPS_LOG:-}"
    add --exit-code "${OPS_EXIT_CODE:-}"
    add --modules "${OPS_MODULES:-}"
    add --database "${OPS_DATABASE:-}"
    add --artifact-url "${OPS_ARTIFACT_URL:-}"
    ;;
  health)
    add --odoo-url "${OPS_ODOO_URL:-}"
    add --deployment "${OPS_DEPLOYMENT:-}"
    add --env "${OPS_ENVIRONMENT:-}"
    add --samples "${OPS_SAMPLES:-}"
    ;;
  modules)
    add --from "${OPS_FROM:-}"
    add --to "${OPS_TO:-}"
    add --modules "${OPS_MODULES:-}"
    ;;
  *) fail "step must be tests, upgrade, health or modules, not '${OPS_STEP:-}'" ;;
esac

answer=$(mktemp)
trap 'rm -f "$answer"' EXIT
set +e
OPS_SOURCE_SYSTEM="${OPS_SOURCE_SYSTEM:-github_actions}" node "$root/bin/ops-gates.mjs" "${args[@]}" --json >"$answer"
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
  message=$(node -e 'try { const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(j.error?.message ?? "") } catch { }' "$answer")
  fail "ops-gates odoo $OPS_STEP failed (exit $rc)${message:+: $message}"
fi
status=recorded
if [ "$OPS_STEP" != modules ]; then
  status=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).check.status)' "$answer")
fi
echo "✓ odoo $OPS_STEP recorded for $OPS_RELEASE: $status"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "status=$status"
    echo "result=$(node -e 'console.log(JSON.stringify(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))))' "$answer")"
  } >>"$GITHUB_OUTPUT"
fi
if [ "${OPS_FAIL_WHEN_NOT_PASS:-false}" = "true" ] && [ "$status" != "pass" ] && [ "$status" != "recorded" ]; then
  fail "the recorded result is $status"
fi
