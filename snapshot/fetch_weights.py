"""Assemble an EmotiVoice home from upstream's official download places (used by the Dockerfile).

Upstream's README has users ``git clone`` two ModelScope repositories (``syq163/outputs`` with the
acoustic+vocoder and style-encoder checkpoints, ``syq163/WangZeJun`` with simbert's config and vocabulary)
next to a clone of the GitHub repository (token list, speakers, prompt label files, lexicon, config).
This script fetches exactly the files the engine reads, over plain HTTPS (no git-lfs, no SDK), into the
home layout the loader expects, so the image build needs nothing but Python:

* ``--source modelscope``: checkpoints from ModelScope, BERT files from ModelScope;
* ``--source huggingface``: BERT files from ``WangZeJun/simbert-base-chinese``; the checkpoints from the
  Hugging Face repository named with ``--hf-outputs-repo`` (upstream publishes them on ModelScope only,
  so this must be a mirror you trust);
* ``--url REL=URL`` (repeatable): any file from an explicit URL (takes precedence);
* ``--source context``: download nothing, only check that the home is complete.

The small data files always come from the GitHub repository at ``--ref``. Each file is streamed to
``<name>.part`` and renamed when complete; files already present are kept (re-runs resume); ``--sha256
REL=HEX`` pins a file's digest. Exit status 1 with a message naming the file on any failure.

    python -m snapshot.fetch_weights --home /weights/home --source modelscope
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

GITHUB_RAW = "https://raw.githubusercontent.com/netease-youdao/EmotiVoice/{ref}/{path}"
MODELSCOPE = "https://www.modelscope.cn/api/v1/models/{repo}/repo?Revision={revision}&FilePath={path}"
HUGGINGFACE = "https://huggingface.co/{repo}/resolve/{revision}/{path}"

AM = "outputs/prompt_tts_open_source_joint/ckpt/g_00140000"
STYLE = "outputs/style_encoder/ckpt/checkpoint_163431"
BERT_CONFIG = "WangZeJun/simbert-base-chinese/config.json"
BERT_VOCAB = "WangZeJun/simbert-base-chinese/vocab.txt"
# Files of the GitHub repository, same relative path in the home.
REPO_FILES = (
    "data/youdao/text/tokenlist",
    "data/youdao/text/speaker2",
    "data/youdao/text/emotion",
    "data/youdao/text/pitch",
    "data/youdao/text/energy",
    "data/youdao/text/speed",
    "lexicon/librispeech-lexicon.txt",
    "config/joint/config.yaml",
)
REQUIRED = (AM, STYLE, BERT_CONFIG, BERT_VOCAB, *REPO_FILES)


def plan(source: str, *, ref: str, ms_revision: str, hf_revision: str, hf_outputs_repo: str | None,
         urls: dict[str, str]) -> dict[str, str]:
    """Home-relative path -> URL for every file to fetch."""
    out: dict[str, str] = {}
    if source == "context":
        return dict(urls)
    for rel in REPO_FILES:
        out[rel] = GITHUB_RAW.format(ref=ref, path=rel)
    if source == "modelscope":
        for rel in (AM, STYLE):
            out[rel] = MODELSCOPE.format(repo="syq163/outputs", revision=ms_revision,
                                         path=urllib.parse.quote(rel.removeprefix("outputs/")))
        for rel in (BERT_CONFIG, BERT_VOCAB):
            out[rel] = MODELSCOPE.format(repo="syq163/WangZeJun", revision=ms_revision,
                                         path=urllib.parse.quote(rel.removeprefix("WangZeJun/")))
    elif source == "huggingface":
        for rel in (BERT_CONFIG, BERT_VOCAB):
            out[rel] = HUGGINGFACE.format(repo="WangZeJun/simbert-base-chinese", revision=hf_revision,
                                          path=rel.rsplit("/", 1)[1])
        if hf_outputs_repo:
            for rel in (AM, STYLE):
                out[rel] = HUGGINGFACE.format(repo=hf_outputs_repo, revision=hf_revision, path=rel)
    else:
        raise SystemExit(f"unknown --source {source!r}")
    out.update(urls)
    return out


def _download(url: str, dest: Path, *, expected_sha256: str | None, retries: int, timeout: float) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    token = os.environ.get("HF_TOKEN") if "huggingface.co" in url else None
    last: Exception | None = None
    for attempt in range(1, retries + 1):
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "emotivoice-serverless-fetch/1"})
            if token:
                request.add_header("Authorization", f"Bearer {token}")
            digest = hashlib.sha256()
            with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as handle:
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                started = time.monotonic()
                while block := response.read(1 << 20):
                    handle.write(block)
                    digest.update(block)
                    done += len(block)
                    if total and sys.stderr.isatty():
                        print(f"\r  {dest.name}: {done / 1e6:.0f}/{total / 1e6:.0f} MB", end="", file=sys.stderr)
                if total and done != total:
                    raise OSError(f"short read: {done} of {total} bytes")
            if expected_sha256 and digest.hexdigest() != expected_sha256.lower():
                raise OSError(f"sha256 {digest.hexdigest()} != expected {expected_sha256}")
            os.replace(part, dest)
            print(f"  {dest} ({done / 1e6:.1f} MB, {time.monotonic() - started:.0f} s)", file=sys.stderr)
            return
        except (OSError, urllib.error.URLError) as exc:
            last = exc
            part.unlink(missing_ok=True)
            if attempt < retries:
                time.sleep(min(30, 2 ** attempt))
    raise SystemExit(f"cannot download {dest.name} from {url}: {last}")


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    out = {}
    for value in values:
        rel, sep, rest = value.partition("=")
        if not sep or not rel or not rest:
            raise SystemExit(f"{flag} takes REL=VALUE, got {value!r}")
        out[rel] = rest
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snapshot.fetch_weights", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="EmotiVoice home to fill (created if needed)")
    parser.add_argument("--source", choices=["context", "modelscope", "huggingface"], default="modelscope")
    parser.add_argument("--ref", default="main", help="EmotiVoice GitHub ref for the data files (pin a commit)")
    parser.add_argument("--ms-revision", default="master", help="ModelScope revision")
    parser.add_argument("--hf-revision", default="main", help="Hugging Face revision")
    parser.add_argument("--hf-outputs-repo", default=None,
                        help="Hugging Face repo holding outputs/... checkpoints (a mirror; upstream uses ModelScope)")
    parser.add_argument("--url", action="append", default=[], metavar="REL=URL", help="explicit URL for one file")
    parser.add_argument("--sha256", action="append", default=[], metavar="REL=HEX", help="pin a file's sha256")
    parser.add_argument("--retries", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=60, help="socket timeout per read, seconds")
    args = parser.parse_args(argv)

    urls = _pairs(args.url, "--url")
    digests = _pairs(args.sha256, "--sha256")
    home: Path = args.home
    home.mkdir(parents=True, exist_ok=True)
    todo = plan(args.source, ref=args.ref, ms_revision=args.ms_revision, hf_revision=args.hf_revision,
                hf_outputs_repo=args.hf_outputs_repo, urls=urls)
    for rel, url in todo.items():
        dest = home / rel
        if dest.is_file() and dest.stat().st_size > 0:
            print(f"  {rel}: present", file=sys.stderr)
            continue
        _download(url, dest, expected_sha256=digests.get(rel), retries=args.retries, timeout=args.timeout)
    missing = [rel for rel in REQUIRED if not (home / rel).is_file()]
    if missing:
        hint = " (--source huggingface needs --hf-outputs-repo or --url for the checkpoints)" if any(
            m.startswith("outputs/") for m in missing) else ""
        print(f"EmotiVoice home {home} is incomplete, missing: {', '.join(missing)}{hint}", file=sys.stderr)
        return 1
    for rel, hexdigest in digests.items():
        if rel not in todo:  # present before this run: still check the pin
            from function.engines.emotivoice.snapshot_format import sha256_file

            if sha256_file(home / rel) != hexdigest.lower():
                print(f"{rel}: sha256 differs from the pinned {hexdigest}", file=sys.stderr)
                return 1
    print(f"EmotiVoice home ready at {home}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
