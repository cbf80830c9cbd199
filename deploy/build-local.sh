#!/usr/bin/env bash
# Builds csbot's images on a machine that cannot pull public images (../shared/docs/containers.md):
#   1. local/debian:bookworm from Debian's packages (debootstrap), unless it exists;
#   2. local/python:3.12 and local/python:3.10: that base plus this machine's own CPython builds;
#   3. wheelhouses (deploy/wheels/py312, py310) from the two virtual environments' locks;
#   4. the role images: csbot/gateway, csbot/actions, csbot/analytics (deploy/app.Dockerfile) and
#      csbot/rasa (deploy/rasa.Dockerfile, with MODEL, default var/test-model/csbot.tar.gz).
# Needs a running dockerd without a bridge (dockerd --bridge=none --iptables=false). Builds use
# the host network and run under nice. Prints each step's time and the image sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
MODEL=${MODEL:-var/test-model/csbot.tar.gz}
TAG=${TAG:-local}
BUILD=(nice -n 10 docker build --network host)

step() { echo "== $1"; STEP_START=$SECONDS; }
done_step() { echo "   $(( SECONDS - STEP_START )) s"; }

if ! docker image inspect local/debian:bookworm >/dev/null 2>&1; then
  step "local/debian:bookworm (debootstrap $MIRROR)"
  rootfs=$(mktemp -d)
  nice -n 10 debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >/dev/null
  tar -C "$rootfs" -c . | docker import - local/debian:bookworm >/dev/null
  rm -rf "$rootfs"
  done_step
fi

stage_python() {  # $1: version (3.12), $2: interpreter; writes deploy/local/python-$1.tar.gz (top dir python/)
  local prefix out=deploy/local/python-$1.tar.gz
  prefix=$("$2" -c 'import sys; print(sys.base_prefix)')
  [ -f "$out" ] && return 0
  tar -C "$prefix" --transform 's,^\.,python,' --exclude="./lib/python$1/site-packages/*" \
      --exclude="./lib/python$1/test" --exclude='__pycache__' -czf "$out" .
}

for version in 3.12 3.10; do
  if [ "$version" = 3.12 ]; then py=.venv/bin/python; else py=.venv-rasa/bin/python; fi
  step "local/python:$version (Debian bookworm + $($py -c 'import sys; print(sys.base_prefix)'))"
  stage_python "$version" "$py"
  "${BUILD[@]}" -q -f deploy/local/python.Dockerfile --build-arg PYTHON_TARBALL="python-$version.tar.gz" \
    -t "local/python:$version" deploy/local >/dev/null
  done_step
done

step "wheelhouses (pip wheel from the locks)"
nice -n 10 .venv/bin/python -m pip wheel -q -w deploy/wheels/py312 -c constraints-py312.txt \
  $(.venv/bin/python -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml","rb"))["project"]["dependencies"]))')
nice -n 10 .venv-rasa/bin/python -m pip wheel -q -w deploy/wheels/py310 -c constraints-rasa.txt -r requirements-rasa.txt
done_step

for role in gateway actions analytics; do
  step "csbot/$role:$TAG"
  "${BUILD[@]}" -q -f deploy/app.Dockerfile --build-arg BASE=local/python:3.12 --target "$role" -t "csbot/$role:$TAG" . >/dev/null
  done_step
done
step "csbot/rasa:$TAG (model $MODEL)"
"${BUILD[@]}" -q -f deploy/rasa.Dockerfile --build-arg BASE=local/python:3.10 --build-arg MODEL="$MODEL" -t "csbot/rasa:$TAG" . >/dev/null
done_step

docker images --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep -E '^(csbot|local)/'
