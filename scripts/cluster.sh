#!/usr/bin/env bash
# cluster.sh up|down|status|roll: a local facectl cluster — 3 replicas of the facectl image behind
# HAProxy (configs/cluster/haproxy.cfg: active /readyz checks, retries on another replica), all on
# a private Docker network, with only HAProxy published, on 127.0.0.1.
#
#   scripts/cluster.sh up       build what is missing, start, wait until all replicas are UP
#   scripts/cluster.sh status   replicas as HAProxy sees them
#   scripts/cluster.sh roll     rolling restart: one replica at a time, waiting for it to be UP
#   scripts/cluster.sh down     remove the containers and the network
#
# Environment: FACECTL_IMAGE (facectl:dev, built by scripts/image.sh when missing; run
# scripts/image.sh yourself to refresh it after changing the code),
# FACECTL_CLUSTER (name prefix, facectl-cluster), FACECTL_CLUSTER_PORT (8080),
# FACECTL_CLUSTER_STATS_PORT (8404, HAProxy's stats page), RUNTIME_IMAGE (debian:bookworm-slim).
set -euo pipefail
cd "$(dirname "$0")/.."

image=${FACECTL_IMAGE:-facectl:dev}
name=${FACECTL_CLUSTER:-facectl-cluster}
port=${FACECTL_CLUSTER_PORT:-8080}
stats_port=${FACECTL_CLUSTER_STATS_PORT:-8404}
# The balancer's image is tagged with a hash of its files, so a changed config gets a new image.
lb_image=${FACECTL_LB_IMAGE:-facectl-haproxy:$(cat configs/cluster/haproxy.cfg configs/cluster/haproxy.Dockerfile | sha256sum | cut -c1-12)}
runtime_image=${RUNTIME_IMAGE:-debian:bookworm-slim}
replicas=(app1 app2 app3)

log() { printf 'cluster: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# states prints "appN STATUS" for each replica, from HAProxy's stats CSV (empty when unreachable).
states() {
	curl -fsS --max-time 2 "http://127.0.0.1:$stats_port/;csv" 2>/dev/null |
		awk -F, '$1 == "facectl" && $2 ~ /^app/ { print $2, $18 }' || true
}

# wait_up [SECONDS]: waits until every replica is UP in HAProxy.
wait_up() {
	local deadline=$((SECONDS + ${1:-120})) s
	while ((SECONDS < deadline)); do
		s=$(states)
		if [[ $(grep -c ' UP$' <<<"$s") == "${#replicas[@]}" ]]; then
			return 0
		fi
		sleep 0.5
	done
	log "replicas not all UP after ${1:-120}s:"
	states >&2
	return 1
}

# wait_state REPLICA PATTERN [SECONDS]: waits until HAProxy reports REPLICA's status matching PATTERN.
wait_state() {
	local r=$1 pat=$2 deadline=$((SECONDS + ${3:-60}))
	while ((SECONDS < deadline)); do
		if states | grep -Eq "^$r ($pat)\$"; then return 0; fi
		sleep 0.2
	done
	die "$r did not reach $pat in HAProxy"
}

up() {
	if ! docker image inspect "$image" >/dev/null 2>&1; then
		log "building $image"
		scripts/image.sh "$image"
	fi
	if ! docker image inspect "$lb_image" >/dev/null 2>&1; then
		log "building $lb_image"
		scripts/base-images.sh
		docker build -q --build-arg "RUNTIME_IMAGE=$runtime_image" -t "$lb_image" \
			-f configs/cluster/haproxy.Dockerfile configs/cluster >/dev/null
	fi
	docker network inspect "$name" >/dev/null 2>&1 || docker network create "$name" >/dev/null
	local r
	for r in "${replicas[@]}"; do
		if ! docker container inspect "$name-$r" >/dev/null 2>&1; then
			# Grace: drain (5 s) + in-flight (20 s) < stop timeout, so `docker stop` never kills.
			docker run -d --name "$name-$r" --network "$name" --network-alias "$r" \
				--stop-timeout 30 --memory 1g --label "io.facectl.cluster=$name" \
				"$image" serve >/dev/null
		fi
		docker start "$name-$r" >/dev/null
	done
	if ! docker container inspect "$name-lb" >/dev/null 2>&1; then
		docker run -d --name "$name-lb" --network "$name" --label "io.facectl.cluster=$name" \
			-p "127.0.0.1:$port:8080" -p "127.0.0.1:$stats_port:8404" "$lb_image" >/dev/null
	fi
	docker start "$name-lb" >/dev/null
	wait_up 120
	log "up: http://127.0.0.1:$port (HAProxy stats: http://127.0.0.1:$stats_port)"
}

down() {
	local ids
	ids=$(docker ps -aq --filter "label=io.facectl.cluster=$name")
	if [[ -n $ids ]]; then
		# shellcheck disable=SC2086
		docker rm -f $ids >/dev/null
	fi
	docker network rm "$name" >/dev/null 2>&1 || true
	log "down"
}

roll() {
	local r
	wait_up 60
	for r in "${replicas[@]}"; do
		log "restarting $r"
		docker stop -t 30 "$name-$r" >/dev/null
		docker start "$name-$r" >/dev/null
		wait_state "$r" 'UP' 60
	done
	log "rolled ${#replicas[@]} replicas"
}

case ${1:-} in
up) up ;;
down) down ;;
status) states ;;
roll) roll ;;
*) die "usage: $0 up|down|status|roll" ;;
esac
