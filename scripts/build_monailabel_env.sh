#!/usr/bin/env bash
# Build (or reuse) the MONAI Label 0.8.5 server environment for monai_srgan: docs/monailabel.md "Install".
#
#   bash scripts/build_monailabel_env.sh [ENV_DIR]      (default: $MONAI_SRGAN_MONAILABEL_ENV, else .cache/monailabel-venv)
#
# The environment is reused when it exists and the hash of its inputs matches (this script,
# requirements-monailabel.txt, pyproject.toml's dependencies and dicom extra, the Python version and the repository
# path it is installed from); otherwise it is rebuilt.
# monai_srgan is installed in editable mode, so source changes need no rebuild.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
env_dir="${1:-${MONAI_SRGAN_MONAILABEL_ENV:-$repo/.cache/monailabel-venv}}"
python="${PYTHON:-python3}"

# only what this environment installs from pyproject.toml: the dependencies and the dicom extra
deps=$("$python" - "$repo/pyproject.toml" <<'PY'
import sys
try:
    import tomllib
except ImportError:  # Python 3.10: hash the whole file
    print(open(sys.argv[1]).read())
else:
    project = tomllib.load(open(sys.argv[1], "rb"))["project"]
    print(project.get("dependencies"), project.get("optional-dependencies", {}).get("dicom"))
PY
)
hash=$( { cat "$repo/scripts/build_monailabel_env.sh" "$repo/requirements-monailabel.txt"; echo "$deps";
          "$python" --version; echo "$repo"; } | sha256sum | cut -d' ' -f1)
if [ -x "$env_dir/bin/monailabel" ] && [ "$(cat "$env_dir/.monai_srgan_inputs" 2>/dev/null)" = "$hash" ]; then
  echo "MONAI Label environment up to date: $env_dir"
  exit 0
fi

echo "Building the MONAI Label environment in $env_dir (pip install of MONAI Label and its pins, ~3 GB on disk;"
echo "this takes 2-6 minutes and is done once: it is reused while its inputs are unchanged) ..."
rm -rf "$env_dir"
"$python" -m venv "$env_dir"
pip="$env_dir/bin/python -m pip"
$pip install -q -r "$repo/requirements-monailabel.txt"
$pip install -q --no-deps "monailabel==0.8.5"
$pip install -q -e "$repo[dicom]" "torch==2.13.0" "numpy<2" "pydicom>=2.4.4,<3"
"$env_dir/bin/python" -c "import monailabel, monai_srgan.apps.monailabel, numpy, pydicom; \
print('monailabel', monailabel.__version__, 'numpy', numpy.__version__, 'pydicom', pydicom.__version__)"
echo "$hash" > "$env_dir/.monai_srgan_inputs"
echo "MONAI Label environment ready: $env_dir"
