#!/usr/bin/env bash
# Deploys logpaste to an Amazon Lightsail container service with the AWS CLI:
# creates the service once (service.json: one node), builds and pushes the image
# from the repository's Dockerfile, then deploys containers.json and
# public-endpoint.json with the bucket settings taken from the environment.
#
# Usage (from anywhere):
#   deploy/lightsail/deploy.sh          create if needed, build, push, deploy
#   deploy/lightsail/deploy.sh render   print the deployment request it would
#                                       send (secrets included) and exit
#
# Read from the environment, never from a file:
#   DB_REPLICA_URL                 required, e.g. s3://my-bucket/logpaste
#   LITESTREAM_ACCESS_KEY_ID       required
#   LITESTREAM_SECRET_ACCESS_KEY   required
#   LITESTREAM_REGION              optional (bucket region)
#   LITESTREAM_ENDPOINT            optional (S3-compatible store: B2, R2, MinIO, ...)
#   DB_SYNC_INTERVAL               optional (image default otherwise)
#   LOGPASTE_RESTORE_TIMEOUT,      optional (docs/replication.md)
#   LOGPASTE_FINAL_SYNC_TIMEOUT,
#   LOGPASTE_LITESTREAM_STOP_LIMIT
#   LOGPASTE_IMAGE                 optional: deploy this image (a public image or
#                                  an already pushed ":service.label.N") instead
#                                  of building and pushing
#   AWS_REGION / AWS_PROFILE       as for any aws command
# Needs: aws (v2) with the lightsailctl plugin, docker (unless LOGPASTE_IMAGE), jq.
set -euo pipefail

recipe_dir=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$recipe_dir/../.." && pwd)

# Settings passed through to the container when set; the first three are required.
required_vars=(DB_REPLICA_URL LITESTREAM_ACCESS_KEY_ID LITESTREAM_SECRET_ACCESS_KEY)
optional_vars=(LITESTREAM_REGION LITESTREAM_ENDPOINT DB_SYNC_INTERVAL
  LOGPASTE_RESTORE_TIMEOUT LOGPASTE_FINAL_SYNC_TIMEOUT LOGPASTE_LITESTREAM_STOP_LIMIT)

die() {
  echo "deploy.sh: $*" >&2
  exit 1
}

need_tool() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is required: $2"
}

check_environment() {
  local name
  for name in "${required_vars[@]}"; do
    [ -n "${!name:-}" ] || die "set $name in the environment (see deploy/lightsail/README.md)"
  done
}

service_setting() {
  jq -er ".$1" "$recipe_dir/service.json"
}

# The whole CreateContainerServiceDeployment request as JSON. Secrets are read by
# jq from its own environment ($ENV), so they never appear on a command line
# (where other local users could see them) nor in the repository.
render_deployment() {
  local image=$1 pass_through
  pass_through=$(printf '%s\n' "${required_vars[@]}" "${optional_vars[@]}" | jq -R . | jq -sc .)
  jq -n \
    --arg service "$(service_setting serviceName)" \
    --arg image "$image" \
    --argjson pass_through "$pass_through" \
    --slurpfile containers "$recipe_dir/containers.json" \
    --slurpfile endpoint "$recipe_dir/public-endpoint.json" \
    '($endpoint[0].containerName) as $name
     | ($ENV | with_entries(select((.key | IN($pass_through[])) and .value != "")))
       as $bucket_env
     | {
         serviceName: $service,
         containers: ($containers[0]
           | .[$name].image = $image
           | .[$name].environment += $bucket_env),
         publicEndpoint: $endpoint[0]
       }'
}

service_field() {
  aws lightsail get-container-services --service-name "$1" \
    --query "containerServices[0].$2" --output text
}

# Polls until the service is ready for a push or a deployment (bounded: 15 min).
wait_for_service() {
  local service=$1 state attempt
  for attempt in $(seq 1 90); do
    state=$(service_field "$service" state)
    case "$state" in
      READY | RUNNING)
        if [ "$(service_field "$service" nextDeployment.state)" = "None" ]; then
          return 0
        fi
        ;;
      DISABLED | FAILED) die "service $service is $state" ;;
    esac
    echo "waiting for $service ($state, check $attempt/90)..." >&2
    sleep 10
  done
  die "service $service did not become ready in 15 minutes"
}

ensure_service() {
  local service power scale current_scale
  service=$(service_setting serviceName)
  power=$(service_setting power)
  scale=$(service_setting scale)
  [ "$scale" = 1 ] || die "service.json: scale must be 1 (Litestream allows one writer per replica)"
  if ! aws lightsail get-container-services --service-name "$service" >/dev/null 2>&1; then
    echo "creating container service $service ($power, scale $scale)" >&2
    aws lightsail create-container-service --service-name "$service" \
      --power "$power" --scale "$scale" >/dev/null
  fi
  wait_for_service "$service"
  current_scale=$(service_field "$service" scale)
  if [ "$current_scale" != "$scale" ]; then
    echo "setting $service back to scale $scale (was $current_scale)" >&2
    aws lightsail update-container-service --service-name "$service" --scale "$scale" >/dev/null
    wait_for_service "$service"
  fi
}

build_and_push() {
  local service=$1 output
  docker build --platform linux/amd64 -t logpaste:lightsail "$repo_root" >&2
  output=$(aws lightsail push-container-image --service-name "$service" \
    --label logpaste --image logpaste:lightsail)
  echo "$output" >&2
  # The plugin prints: Refer to this image as ":service.logpaste.N" in deployments.
  sed -n 's/.*Refer to this image as "\(:[^"]*\)".*/\1/p' <<<"$output" | tail -n 1
}

main() {
  need_tool jq "https://jqlang.org/download/"
  check_environment

  if [ "${1:-}" = "render" ]; then
    echo "deploy.sh: the request below contains your bucket keys" >&2
    render_deployment "${LOGPASTE_IMAGE:-:$(service_setting serviceName).logpaste.latest}"
    return 0
  fi
  [ $# -eq 0 ] || die "unknown argument: $1 (expected nothing or 'render')"

  need_tool aws "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
  local service image url
  service=$(service_setting serviceName)
  ensure_service

  image=${LOGPASTE_IMAGE:-}
  if [ -z "$image" ]; then
    need_tool docker "https://docs.docker.com/engine/install/"
    image=$(build_and_push "$service")
    [ -n "$image" ] || die "could not read the pushed image's name from push-container-image"
  fi

  echo "deploying $image to $service" >&2
  # The AWS CLI reads a request file more than once, so a pipe will not do: the
  # request goes through a private temporary file, deleted on exit.
  request_dir=$(mktemp -d)
  trap 'rm -rf "$request_dir"' EXIT
  (umask 077 && render_deployment "$image" >"$request_dir/deployment.json")
  aws lightsail create-container-service-deployment \
    --cli-input-json "file://$request_dir/deployment.json" >/dev/null
  rm -rf "$request_dir"
  wait_for_service "$service"
  url=$(service_field "$service" url)
  echo "logpaste is live at $url (health check: ${url%/}/healthz)"
}

main "$@"
