#!/usr/bin/env bash
# Idempotent set-up: system packages (when root and missing), .venv with Python 3.10,
# the project and its pinned dependencies. Re-runs are cheap: a stamp records what was installed.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python310() {
  if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys' >/dev/null 2>&1; then
    command -v python3.10; return
  fi
  local candidate
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do
    if [ -x "$candidate" ]; then echo "$candidate"; return; fi
  done
  echo "error: Python 3.10 is required (Rasa 3.6 supports <3.11) and was not found" >&2
  exit 1
}

install_system_packages() {
  local missing=()
  command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
  command -v sox >/dev/null 2>&1 || missing+=(sox libsox-fmt-all)
  if [ "${CSBOT_SKIP_BROWSER:-0}" != "1" ]; then
    command -v chromium >/dev/null 2>&1 || missing+=(chromium chromium-driver)
    # A CJK font, so the agent console's screenshots show Chinese text.
    dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || missing+=(fonts-wqy-microhei)
  fi
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing system packages: ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  else
    echo "bootstrap: warning: missing system packages (${missing[*]}); install them with your package manager" >&2
  fi
}

install_python_packages() {
  local stamp=.venv/.csbot-installed
  local want
  want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  if [ ! -x .venv/bin/python ]; then
    "$(find_python310)" -m venv .venv
  fi
  echo "bootstrap: installing Python packages into .venv (log: .venv/pip-install.log)"
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
         .venv/bin/python -m pip install -q -c constraints.txt -e '.[test,lint]'; } >.venv/pip-install.log 2>&1; then
    tail -n 40 .venv/pip-install.log >&2
    echo "bootstrap: pip install failed (full log: .venv/pip-install.log)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
}

install_system_packages
install_python_packages
