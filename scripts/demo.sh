#!/usr/bin/env bash
# `make demo`: start the sandbox ECS on loopback, deploy a new image (rolls over, exit 0),
# then deploy an image that cannot start (the circuit breaker rolls it back, exit 15); then
# ECS's own blue/green (paused for approval, continued from a second command, completes) and
# canary (green tasks fail; ECS rolls it back, exit 15); then why a deploy failed (the crashed
# container's own log lines, exit 15) and a deploy refused by the preflight (exit 25, nothing
# registered, in under a second); then a whole deploy job (one revision for two services of one
# family, its migration first, then the nightly scheduled task moved to it); then a CODE_DEPLOY
# service deployed through CodeDeploy, followed lifecycle event by lifecycle event, then moved
# onto ECS's own blue/green (--migrate-to-native) and deployed again, natively.
set -euo pipefail
workdir=$(mktemp -d)
ready="$workdir/endpoint"
ecs-deploy-sandbox --port 0 --step-delay "${DEMO_STEP_DELAY:-0.7}" --minute "${DEMO_MINUTE:-3}" --seed-demo \
  --fail-image '*:broken' --crash-image '*/demo/api:1.1' --ready-file "$ready" &
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
echo "== 3. blue/green (ECS's own, strategy BLUE_GREEN) with an approval gate: service web-bg"
echo "==    pauses after the test traffic shift; the first command exits 23 (awaiting approval)"
echo "\$ ecs-deploy -c demo -n web-bg -i nginx:1.27 -t 60 --on-pause exit"
set +e
ecs-deploy -c demo -n web-bg -i nginx:1.27 -t 60 --on-pause exit
code=$?
set -e
echo "== exit code $code (23: paused at a lifecycle hook, awaiting approval)"
[ "$code" -eq 23 ] || { echo "demo: expected exit code 23" >&2; exit 1; }
echo "== approved: a second command (a second CI job) continues it to production"
echo "\$ ecs-deploy -c demo -n web-bg --resume continue -t 60"
ecs-deploy -c demo -n web-bg --resume continue -t 60
echo "== exit code 0 (SUCCESSFUL: traffic on green, bake time over, blue cleaned up)"

echo
echo "== 4. canary (strategy CANARY, 20% first) of nginx:broken: green tasks cannot start"
echo "\$ ecs-deploy -c demo -n web-canary -i nginx:broken -t 60"
set +e
ecs-deploy -c demo -n web-canary -i nginx:broken -t 60
code=$?
set -e
echo "== exit code $code (15: ECS rolled the canary back; blue kept serving)"
[ "$code" -eq 15 ] || { echo "demo: expected exit code 15" >&2; exit 1; }

api=123456789012.dkr.ecr.us-east-1.amazonaws.com/demo/api
echo
echo "== 5. why it failed: deploy api:1.1 (it is in ECR) whose container crashes at start"
echo "\$ ecs-deploy -c demo -n api -i $api:1.1 -t 60"
set +e
ecs-deploy -c demo -n api -i "$api:1.1" -t 60
code=$?
set -e
echo "== exit code $code (15: rolled back by ECS; the container's own last log lines say why)"
[ "$code" -eq 15 ] || { echo "demo: expected exit code 15" >&2; exit 1; }

echo
echo "== 6. preflight: deploy api:1.2, a tag that was never pushed to ECR"
echo "\$ ecs-deploy -c demo -n api -i $api:1.2 -t 60"
started=$(date +%s%N)
set +e
ecs-deploy -c demo -n api -i "$api:1.2" -t 60
code=$?
set -e
took=$(( ($(date +%s%N) - started) / 1000000 ))
echo "== exit code $code in ${took} ms (25: refused by the preflight; nothing was registered)"
[ "$code" -eq 25 ] || { echo "demo: expected exit code 25" >&2; exit 1; }

echo
echo "== 7. the whole deploy job: services orders-api and orders-worker (one family) get one"
echo "==    new revision; its migration runs first, streaming its logs; then both move; then"
echo "==    the nightly EventBridge rule that ran orders:1 runs the new revision"
echo "\$ ecs-deploy -c demo -n orders-api,orders-worker -i nginx:1.27 --pre-deploy web 'python manage.py migrate' -t 120"
ecs-deploy -c demo -n orders-api,orders-worker -i nginx:1.27 --pre-deploy web 'python manage.py migrate' -t 120
echo "== exit code 0"

echo
echo "== 8. a CODE_DEPLOY service (web-cd): CodeDeploy runs the blue/green deployment; each"
echo "==    lifecycle event, the replacement task set and its share of traffic as they change"
echo "\$ ecs-deploy -c demo -n web-cd -i nginx:1.27 -t 120"
ecs-deploy -c demo -n web-cd -i nginx:1.27 -t 120
echo "== exit code 0 (Succeeded: traffic on the replacement, the termination wait over)"

echo
echo "== 9. move web-cd off CodeDeploy, in place, onto ECS's own blue/green (checked first)"
echo "\$ ecs-deploy -c demo -n web-cd --migrate-to-native --infrastructure-role-arn arn:aws:iam::123456789012:role/demo-ecs-infra"
ecs-deploy -c demo -n web-cd --migrate-to-native --infrastructure-role-arn arn:aws:iam::123456789012:role/demo-ecs-infra
echo "== exit code 0"
echo
echo "== 10. the same service's next deploy is ECS's own BLUE_GREEN deployment"
echo "\$ ecs-deploy -c demo -n web-cd -i nginx:1.28 -t 120"
ecs-deploy -c demo -n web-cd -i nginx:1.28 -t 120
echo "== exit code 0"
echo
echo "Demo finished: a rolling deploy, a caught failure, a blue/green deploy through an"
echo "approval gate, a failed canary rolled back by ECS, a crash explained by its own logs,"
echo "a deploy refused before anything was registered, a whole deploy job, and a CodeDeploy"
echo "blue/green deploy followed event by event, then that service moved onto ECS's own"
echo "blue/green and deployed by it."
