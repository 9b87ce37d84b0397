#!/usr/bin/env bash
# Simulate what Binder (repo2docker) builds, using nothing outside binder/, then run every learner notebook in it.
#
#   0. the system packages of binder/apt.txt (repo2docker installs them with apt-get): installed here when
#      missing and this shell may run apt-get, otherwise the script stops and names them;
#   1. a fresh virtual environment on the Python that binder/runtime.txt names (if this machine has it);
#   2. `pip install -r binder/requirements.txt`, then binder/postBuild run from the repository root,
#      as repo2docker does;
#   3. the JupyterLab pieces the course relies on are enabled (jupyter-server-proxy, the widgets front end);
#   4. nbval runs every cell of every notebook in notebooks/, with JUPYTERHUB_SERVICE_PREFIX set as on Binder.
#
# Usage: bash scripts/simulate_binder.sh        (LABKIT_QUICK=1 by default; LABKIT_QUICK=0 for full sizes)
# ci-ready: about 50 s on a 2-core machine whose pip cache already holds the pins (as after .ci/run installs them)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

apt_packages=()
if [[ -f binder/apt.txt ]]; then
    while read -r package _; do
        [[ -z "$package" || "$package" == \#* ]] && continue
        dpkg -s "$package" >/dev/null 2>&1 || apt_packages+=("$package")
    done < binder/apt.txt
fi
if (( ${#apt_packages[@]} )); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "== installing binder/apt.txt packages: ${apt_packages[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}" >/dev/null
    else
        echo "binder/apt.txt needs these system packages, which are not installed: ${apt_packages[*]}" >&2
        echo "install them (Debian/Ubuntu: sudo apt-get install ${apt_packages[*]}) and run this again" >&2
        exit 1
    fi
fi

runtime="$(tr -d '[:space:]' < binder/runtime.txt)"          # e.g. python-3.11
version="${runtime#python-}"
python="$(command -v "python$version" || true)"
if [[ -z "$python" ]] || ! "$python" -c '' 2>/dev/null; then
    python="$(command -v python3)"
    echo "warning: binder/runtime.txt asks for $runtime, not found here; using $("$python" --version)" >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$python" -m venv "$work/venv"
export PATH="$work/venv/bin:$PATH"        # postBuild's `python` and `pip` are the new environment's
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
echo "== $(python --version) in a fresh venv: installing binder/requirements.txt"
python -m pip install --quiet -r binder/requirements.txt
echo "== running binder/postBuild"
./binder/postBuild

echo "== checking the JupyterLab extensions the course needs"
jupyter server extension list 2>&1 | grep -E "jupyter_server_proxy .*enabled" \
    || { echo "jupyter-server-proxy is not enabled: the app's docs would not open on Binder" >&2; exit 1; }
jupyter labextension list 2>&1 | grep -E "@jupyter-widgets/jupyterlab-manager .*enabled" \
    || { echo "the widgets front end is missing: widgets would show 'Error displaying widget'" >&2; exit 1; }

echo "== nbval over notebooks/ (as a learner on Binder runs them)"
export JUPYTERHUB_SERVICE_PREFIX="/user/binder-simulation/"   # Binder sets it; labkit links through the proxy
export LABKIT_QUICK="${LABKIT_QUICK:-1}"
python -m pytest notebooks -q -p no:cacheprovider -o addopts="" \
    --nbval-lax --nbval-current-env --nbval-cell-timeout=180
echo "== Binder simulation passed in $((SECONDS - start)) s"
