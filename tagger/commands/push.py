"""`tagger push`: publish a trained model folder (weights, config, tokenizer, card) to the Hugging Face Hub."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "push",
        help="publish a trained model folder to the Hugging Face Hub",
        description=(
            "Create the Hub repository if needed and upload a model folder in one commit: weights\n"
            "(model.safetensors), config.json, the tokenizer files, the model card README.md and\n"
            "tagger_run.json. Checkpoints, optimizer states, hidden and *.tmp files are left out.\n"
            "The folder must hold a card written by tagger (every training run writes one).\n\n"
            "Token: HF_TOKEN, else the cached login (`hf auth login`). It is sent to the Hub only:\n"
            "never printed, logged or written. Without a token or without network the command\n"
            "prints one error line, exits with code 1 and leaves the local folder as it was.\n"
            "Another Hub (a mirror, a test server) is selected with HF_ENDPOINT. A file holding a\n"
            "string shaped like a Hub token (hf_...) is refused unless --allow-token-like-strings."
        ),
        epilog="example: tagger push --model outputs/wnut17-minilm/runs/focal-gamma=2.0-seed1/model "
               "--repo-id me/wnut17-minilm-focal --private",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, metavar="DIR", help="model folder (save_pretrained format, with README.md)")
    p.add_argument("--repo-id", required=True, metavar="NAME", help="Hub repository, e.g. 'me/wnut17-minilm-focal'")
    p.add_argument("--private", action="store_true", help="create the repository as private (no effect if it exists)")
    p.add_argument("--revision", metavar="REV", help="branch to commit to, created if missing (default: main)")
    p.add_argument("--commit-message", metavar="MSG", help="commit message (default: 'Upload <folder> (tagger <version>)')")
    p.add_argument("--allow-token-like-strings", action="store_true",
                   help="upload files holding strings shaped like a Hub token (hf_...), refused by default; "
                        "a file holding your own token is refused all the same")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tagger.hub import push_model

    url = push_model(args.model, args.repo_id, private=args.private, revision=args.revision,
                     commit_message=args.commit_message, allow_token_like_strings=args.allow_token_like_strings)
    sys.stdout.write(url + "\n")
    return 0
