#!/usr/bin/env bash
# Install archon-compile (from this checkout) and the example plugin into a fresh venv, then answer a
# query with `archon-compile run` on a spec that uses the plugin's `self_refine` type. Nothing imports the
# plugin: the CLI finds it through its entry point. A local fake OpenAI-compatible server plays the model.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${VENV:-$(mktemp -d)/venv}
# Build from copies: setuptools writes build/ and *.egg-info next to the sources it builds.
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
git -C "$root" ls-files -z | (cd "$root" && xargs -0 cp --parents -t "$src")
uv venv -q --python 3.11 "$venv"
uv pip install -q --python "$venv/bin/python" "$src" "$src/examples/self_refine"
"$venv/bin/python" "$here/run_with_fake_server.py" "$venv/bin/archon-compile" "$here/refine-spec.json"
