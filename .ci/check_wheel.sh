#!/usr/bin/env bash
# The package as a user installs it: builds the wheel, installs it (--no-deps) into a fresh environment that reuses the
# dependencies already installed in VENV (default .venv), and runs documented commands outside the source tree: a
# shortened demo, `publish --staging-dir` with remote code, `convert vit` on a small checkpoint.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$root/.venv}
[[ "$venv" = /* ]] || venv="$root/$venv"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$venv/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$root"
"$venv/bin/python" -m venv "$work/env"
deps=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
site=$("$work/env/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
# A plain path entry: .venv's packages without its .pth files, so its editable install of inductive_zoo is not seen.
echo "$deps" > "$site/_reused_dependencies.pth"
"$work/env/bin/python" -m pip install --quiet --no-deps "$work"/dist/inductive_zoo-*.whl

mkdir "$work/run" && cd "$work/run"
export HF_HUB_OFFLINE=1
"$work/env/bin/python" -c "
import inductive_zoo, sys
location = inductive_zoo.__file__
assert location.startswith('$site'), f'inductive_zoo imported from {location}, not from the installed wheel'
"
"$work/env/bin/inductive-zoo" demo --num_train_epochs 1 --output_dir demo > demo.log 2>&1 || { cat demo.log; exit 1; }
"$work/env/bin/inductive-zoo" publish demo --repo-id local/demo --remote-code --staging-dir staged
test -f staged/README.md && test -f staged/model.safetensors && ls staged/*.py > /dev/null
"$work/env/bin/python" -c "
from transformers import ViTConfig, ViTForImageClassification
config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                   intermediate_size=64, num_labels=3)
ViTForImageClassification(config).save_pretrained('vit')
"
"$work/env/bin/inductive-zoo" convert vit --checkpoint vit --output_dir converted > convert.log
grep -q "max abs logit difference" convert.log && test -f converted/README.md
echo "installed wheel: demo, publish --staging-dir and convert vit ran outside the source tree"
