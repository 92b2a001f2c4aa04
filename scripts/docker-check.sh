#!/usr/bin/env bash
# Checks docker/ without a Docker engine (CI has none): the compose file parses (`docker compose
# config -q`, or docker-compose, where either is installed), every relay config it mounts is
# valid, and each image's ENTRYPOINT + CMD runs natively against the built binaries: the
# image's paths are mapped to the build (/usr/local/bin/X → the built X, files the final stage
# COPYs → their source in the repo, /data → a temporary dir), and the process must still be
# running after a while with every TCP port the image EXPOSEs accepting connections. A relay
# image whose command only validated its config and exited would fail here.
#
# usage: scripts/docker-check.sh   (after a build; scripts/test.sh runs it)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$SRWAN_ROOT"

if docker compose version >/dev/null 2>&1; then
	docker compose -f docker/compose.yml config -q
	log "docker compose config: docker/compose.yml is valid"
elif command -v docker-compose >/dev/null; then
	docker-compose -f docker/compose.yml config -q
	log "docker-compose config: docker/compose.yml is valid"
else
	log "no docker compose here: the compose file's syntax is not checked"
fi
for config in docker/relays/*.toml; do
	"$SRWAN_BIN_DIR/srwan-relay" check-config -c "$config" >/dev/null 2>&1 ||
		{ "$SRWAN_BIN_DIR/srwan-relay" check-config -c "$config"; die "$config is not a valid relay config"; }
done

work=$(mktemp -d /tmp/srwan-docker-check.XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

# `image_command DOCKERFILE DATA`: the final stage's ENTRYPOINT + CMD, mapped to this machine,
# one argument per line; then a line `--ports` and the EXPOSEd TCP ports; then a line
# `--health` and the HEALTHCHECK's command, one argument per line.
image_command() {
	python3 - "$1" "$2" "$SRWAN_BIN_DIR" "$SRWAN_ROOT" <<-'PY'
		import json, os, re, sys
		dockerfile, data, bin_dir, root = sys.argv[1:]
		text = re.sub(r"\\\n", " ", open(dockerfile).read())
		stage = text.split("\nFROM ")[-1]  # the final stage
		entrypoint, cmd, copies, ports, health = [], [], {}, [], []
		for line in stage.splitlines():
		    word, _, rest = line.strip().partition(" ")
		    if word == "ENTRYPOINT":
		        entrypoint = json.loads(rest)
		    elif word == "CMD":
		        cmd = json.loads(rest)
		    elif word == "COPY" and "--from" not in rest:
		        src, dest = rest.split()
		        copies[dest] = os.path.join(root, src)
		    elif word == "EXPOSE":
		        ports += [p for p in rest.split() if not p.endswith("/udp")]
		    elif word == "HEALTHCHECK":
		        health = json.loads(rest.split(" CMD ", 1)[1])
		def native(arg):
		    if arg.startswith("/usr/local/bin/"):
		        return f"{bin_dir}/{arg.rsplit('/', 1)[1]}"
		    if arg in copies:
		        return copies[arg]
		    if arg == "/data" or arg.startswith("/data/"):
		        return data + arg[len("/data"):]
		    return arg
		if not entrypoint and not cmd:
		    sys.exit(f"{dockerfile}: no ENTRYPOINT or CMD in its final stage")
		if not health:
		    sys.exit(f"{dockerfile}: no HEALTHCHECK CMD [...] in its final stage")
		print("\n".join(native(a) for a in entrypoint + cmd))
		print("--ports")
		print("\n".join(p.split("/")[0] for p in ports))
		print("--health")
		print("\n".join(health))
	PY
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

for dockerfile in docker/Dockerfile.*; do
	data="$work/$(basename "$dockerfile")"
	mkdir -p "$data"
	mapfile -t lines < <(image_command "$dockerfile" "$data")
	argv=() ports=() health=() part=argv
	for line in "${lines[@]}"; do
		case "$line" in
		--ports) part=ports; continue ;;
		--health) part=health; continue ;;
		"") continue ;;
		esac
		case "$part" in
		argv) argv+=("$line") ;;
		ports) ports+=("$line") ;;
		health) health+=("$line") ;;
		esac
	done
	[ -x "${argv[0]}" ] || die "$dockerfile runs ${argv[0]}, which is not built"
	# A port already served would pass the check for the wrong process.
	for port in "${ports[@]}"; do
		! port_open "$port" || die "$dockerfile: port $port on this host is already in use (a node or relay still running, e.g. the demo?); stop it and run this check again"
	done
	log "$dockerfile: ${argv[*]}"
	(cd "$data" && exec "${argv[@]}") >"$work/out.log" 2>&1 &
	pid=$!
	deadline=$((SECONDS + 180))
	for port in "${ports[@]}"; do
		until port_open "$port"; do
			kill -0 "$pid" 2>/dev/null || { tail -n 20 "$work/out.log" >&2; die "$dockerfile: its command exited"; }
			[ $SECONDS -lt $deadline ] || { tail -n 20 "$work/out.log" >&2; die "$dockerfile: nothing on port $port after 180 s"; }
			sleep 0.5
		done
	done
	sleep 5
	kill -0 "$pid" 2>/dev/null || { tail -n 20 "$work/out.log" >&2; die "$dockerfile: its command exited"; }
	# The image's own health check, run against it as docker would (a few tries while it starts).
	healthy=0
	for _ in $(seq 1 30); do
		if "${health[@]}" >/dev/null 2>&1; then healthy=1; break; fi
		sleep 2
	done
	[ "$healthy" = 1 ] || { tail -n 20 "$work/out.log" >&2; die "$dockerfile: its HEALTHCHECK fails: ${health[*]}"; }
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
	log "$dockerfile: runs, serves TCP ports ${ports[*]} and passes its HEALTHCHECK"
done
