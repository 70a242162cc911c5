#!/usr/bin/env bash
# Posts one v1.0 event (schema/ingest-envelope.v1.json) to <OPS_API_URL>/functions/v1/ops-event-ingest
# with curl and jq only. The body is built once; network errors, timeouts, 429 and 5xx are retried
# with exponential backoff and jitter (Retry-After honoured), resending the same bytes under the
# same idempotency key, so the server records the event once and answers a retry of an event it
# already took with `duplicate`. Any other 4xx is final. Inputs come from the environment (see
# action.yml); outputs go to $GITHUB_OUTPUT when it is set.
set -euo pipefail

fail() {
  echo "::error title=ops-event::$*" >&2
  exit 1
}

command -v curl >/dev/null || fail "curl is required"
command -v jq >/dev/null || fail "jq is required"

[ -n "${OPS_API_URL:-}" ] || fail "api-url is required"
[ -n "${OPS_TOKEN:-}" ] || fail "token is required"
[ -n "${OPS_EVENT_TYPE:-}" ] || fail "event-type is required"
echo "::add-mask::$OPS_TOKEN"
uuid='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
[[ "${OPS_RELEASE_ID:-}" =~ $uuid ]] || fail "release-id must be the release's UUID, not '${OPS_RELEASE_ID:-}'"

payload="${OPS_PAYLOAD:-}"
[ -n "$payload" ] || payload='{}'
jq -e 'type == "object"' >/dev/null 2>&1 <<<"$payload" || fail "payload must be a JSON object"
gate="${OPS_GATE_CODE:-}"
source_system="${OPS_SOURCE_SYSTEM:-github_actions}"
retries="${OPS_RETRIES:-4}"
timeout="${OPS_TIMEOUT_SECONDS:-10}"
[[ "$retries" =~ ^[0-9]+$ ]] || fail "retries must be a whole number"

key="${OPS_IDEMPOTENCY_KEY:-}"
if [ -z "$key" ]; then
  # Same run attempt and same content: same key, whatever the time.
  digest=$(jq -cS -n --arg gate "$gate" --argjson payload "$payload" '{gate: $gate, payload: $payload}' | sha256sum | cut -c1-64)
  key="$source_system/$OPS_RELEASE_ID/$OPS_EVENT_TYPE/${GITHUB_RUN_ID:-local}.${GITHUB_RUN_ATTEMPT:-1}.$digest"
fi

body=$(jq -c -n \
  --arg key "$key" --arg type "$OPS_EVENT_TYPE" --arg source "$source_system" \
  --arg release "$OPS_RELEASE_ID" --arg gate "$gate" --argjson payload "$payload" \
  --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  '{schema_version: "v1.0", idempotency_key: $key, event_type: $type, source_system: $source,
    release_id: $release} + (if $gate == "" then {} else {gate_code: $gate} end)
   + {payload: $payload, emitted_at: $at}')

url="${OPS_API_URL%/}/functions/v1/ops-event-ingest"
answer=$(mktemp)
headers=$(mktemp)
trap 'rm -f "$answer" "$headers"' EXIT

attempts=$((retries + 1))
for ((attempt = 1; ; attempt++)); do
  set +e
  http=$(curl --silent --show-error --max-time "$timeout" \
    --output "$answer" --dump-header "$headers" --write-out '%{http_code}' \
    -X POST "$url" \
    -H "Authorization: Bearer $OPS_TOKEN" \
    -H "apikey: ${OPS_ANON_KEY:-$OPS_TOKEN}" \
    -H 'Content-Type: application/json' \
    --data-binary "$body")
  rc=$?
  set -e
  if [ "$rc" -eq 0 ] && [[ "$http" =~ ^2 ]]; then
    break
  fi
  if [ "$rc" -ne 0 ]; then
    problem="cannot reach $url (curl exit $rc)"
  elif [ "$http" = 429 ] || [ "$http" -ge 500 ]; then
    problem="the ingest answered HTTP $http"
  else
    detail=$(jq -r '.detail.message // .message // .error // empty' "$answer" 2>/dev/null || true)
    fail "event refused (HTTP $http): ${detail:-$(cat "$answer")}"
  fi
  if [ "$attempt" -ge "$attempts" ]; then
    fail "$problem (gave up after $attempt attempts)"
  fi
  # Exponential backoff (250 ms doubling, at most 8 s) with jitter in its upper half.
  ceiling=$((250 * (1 << (attempt - 1))))
  [ "$ceiling" -le 8000 ] || ceiling=8000
  delay=$((ceiling / 2 + RANDOM % (ceiling / 2 + 1)))
  retry_after=$(tr -d '\r' <"$headers" | awk 'tolower($1) == "retry-after:" { print $2 }' | tail -n 1)
  if [[ "$retry_after" =~ ^[0-9]+$ ]] && [ $((retry_after * 1000)) -gt "$delay" ]; then
    delay=$((retry_after * 1000))
  fi
  printf '%s; retrying in %d.%03d s (attempt %d of %d)\n' "$problem" $((delay / 1000)) $((delay % 1000)) \
    $((attempt + 1)) "$attempts" >&2
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
done

status=$(jq -r '.status' "$answer")
ingest_id=$(jq -r '.ingest_id' "$answer")
echo "✓ $OPS_EVENT_TYPE $status (ingest $ingest_id, key $key)"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "status=$status"
    echo "ingest-id=$ingest_id"
    echo "idempotency-key=$key"
  } >>"$GITHUB_OUTPUT"
fi
