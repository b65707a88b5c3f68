#!/usr/bin/env bash
# Builds the Docker image (Dockerfile) when a Docker engine is reachable, and
# checks compose.yaml with `docker compose config` when the compose plugin is
# there. Where no engine runs (a `docker` client alone, or none), it says so
# plainly and exits 0 with "docker: skipped" as its last line; scripts/test.sh
# reports that as "image=skipped". TestDockerfile, TestComposeFile and
# TestSystemdUnit check the packaging files everywhere.
#
#   scripts/docker.sh                 # IMAGE=caddy-lore:ci by default
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
IMAGE="${IMAGE:-caddy-lore:ci}"
say() { echo "docker: $*"; }

if ! command -v docker >/dev/null 2>&1; then
	say "no docker command on this machine: the image was not built"
	say "skipped"
	exit 0
fi
if ! INFO_ERR="$(docker info 2>&1 >/dev/null)"; then
	say "no Docker engine reachable (docker info: $(tail -n1 <<<"$INFO_ERR")): the image was not built"
	say "skipped"
	exit 0
fi

say "docker build -t $IMAGE ."
docker build -t "$IMAGE" . || { say "FAIL: docker build"; exit 1; }
# The image runs as a non-root user and holds a Caddy with the lore module.
USER_IN_IMAGE="$(docker image inspect -f '{{.Config.User}}' "$IMAGE")"
if [[ -z "$USER_IN_IMAGE" || "$USER_IN_IMAGE" == root || "$USER_IN_IMAGE" == 0 ]]; then
	say "FAIL: the image runs as root ($USER_IN_IMAGE)"
	exit 1
fi
if ! docker run --rm "$IMAGE" list-modules | grep -qx http.handlers.lore; then
	say "FAIL: the image's caddy does not list http.handlers.lore"
	exit 1
fi
if docker compose version >/dev/null 2>&1; then
	LORE_CREDENTIAL_KEY=ci-not-a-secret REDIS_PASSWORD=ci-not-a-secret docker compose config -q ||
		{ say "FAIL: docker compose config"; exit 1; }
else
	say "no compose plugin: compose.yaml not checked by docker compose (TestComposeFile checks it)"
fi
say "ok ($IMAGE, user $USER_IN_IMAGE)"
