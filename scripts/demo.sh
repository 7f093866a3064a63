#!/usr/bin/env bash
# `make demo`: start the sandbox ECS on loopback, deploy a new image (rolls over, exit 0),
# then deploy an image that cannot start (the circuit breaker rolls it back, exit 15).
set -euo pipefail
workdir=$(mktemp -d)
ready="$workdir/endpoint"
ecs-deploy-sandbox --port 0 --step-delay "${DEMO_STEP_DELAY:-0.7}" --seed-demo \
  --fail-image '*:broken' --ready-file "$ready" &
sandbox_pid=$!
trap 'kill "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true; rm -rf "$workdir"' EXIT
for _ in $(seq 1 300); do [ -s "$ready" ] && break; sleep 0.1; done
[ -s "$ready" ] || { echo "the sandbox did not start" >&2; exit 1; }

export AWS_ENDPOINT_URL=$(cat "$ready")
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
echo "== sandbox ECS on $AWS_ENDPOINT_URL (no AWS account involved)"

echo
echo "== 1. deploy nginx:1.27 to service web (2 tasks, was nginx:1.25)"
echo "\$ ecs-deploy -c demo -n web -i nginx:1.27 -t 60"
ecs-deploy -c demo -n web -i nginx:1.27 -t 60
echo "== exit code 0"

echo
echo "== 2. deploy nginx:broken: its tasks cannot pull the image"
echo "\$ ecs-deploy -c demo -n web -i nginx:broken -t 60"
set +e
ecs-deploy -c demo -n web -i nginx:broken -t 60
code=$?
set -e
echo "== exit code $code (15: the deploy failed and ECS's circuit breaker rolled it back)"
[ "$code" -eq 15 ] || { echo "demo: expected exit code 15" >&2; exit 1; }
echo
echo "Demo finished: one deploy rolled over, one failure caught with its reason."
