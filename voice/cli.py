"""`csbot voice ...`: install the Chinese Vosk model, show the model state, transcribe a file."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from voice.config import MODEL_NAME, MODEL_SHA256, MODEL_URL, VoiceSettings

EXIT_NETWORK = 3
EXIT_CHECKSUM = 4
EXIT_ARCHIVE = 5


def register(subparsers: argparse._SubParsersAction) -> None:
    voice = subparsers.add_parser("voice", help="voice notes: Vosk model set-up and status")
    commands = voice.add_subparsers(dest="voice_command", required=True, metavar="SUBCOMMAND")

    download = commands.add_parser("download-model", help=f"download {MODEL_NAME}, check its sha256, unpack it")
    download.add_argument("--dest", type=Path, default=None,
                          help="model directory to create (default: VOSK_MODEL_PATH or var/models/" f"{MODEL_NAME})")  # fmt: skip
    download.add_argument("--url", default=MODEL_URL, help=argparse.SUPPRESS)
    download.add_argument("--force", action="store_true", help="replace an existing model directory")
    download.set_defaults(func=download_model)

    status = commands.add_parser("status", help="show the configured model and whether it loads")
    status.add_argument("--no-load", action="store_true", help="only inspect the files, do not load the model")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=show_status)

    transcribe = commands.add_parser("transcribe", help="transcribe an audio file (AMR, WAV, Ogg) with the model")
    transcribe.add_argument("file", type=Path)
    transcribe.add_argument("--model", type=Path, default=None, help="model directory (default: VOSK_MODEL_PATH)")
    transcribe.set_defaults(func=transcribe_file)


def download_model(args: argparse.Namespace) -> int:
    dest: Path = (args.dest or VoiceSettings.from_env().model_path).resolve()
    if dest.exists() and not args.force:
        print(f"{dest} already exists; use --force to replace it. `csbot voice status` checks that it loads.")
        return 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download-") as work:
        archive = Path(work) / f"{MODEL_NAME}.zip"
        print(f"Downloading {args.url} ...")
        try:
            digest = _download(args.url, archive)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            print(
                f"error: cannot download the model from {args.url}: {reason}\n"
                "This machine seems to have no internet access. On a machine that has, run\n"
                "  csbot voice download-model --dest <dir>\n"
                f"and copy <dir> here to {dest} (or point VOSK_MODEL_PATH at it). Until then voice notes\n"
                "use WeChat's Recognition text when present and otherwise go to a human agent.",
                file=sys.stderr,
            )
            return EXIT_NETWORK
        if digest != MODEL_SHA256:
            print(f"error: checksum mismatch for {args.url}: got sha256 {digest}, expected {MODEL_SHA256}. "
                  "Nothing was installed.", file=sys.stderr)  # fmt: skip
            return EXIT_CHECKSUM
        try:
            unpacked = _unpack(archive, Path(work) / "unpacked")
        except (zipfile.BadZipFile, ValueError) as exc:
            print(f"error: the downloaded archive cannot be unpacked: {exc}", file=sys.stderr)
            return EXIT_ARCHIVE
        if dest.exists():
            shutil.rmtree(dest)
        unpacked.replace(dest)
    print(f"Installed {MODEL_NAME} at {dest} (sha256 verified).")
    if dest != VoiceSettings.from_env().model_path.resolve():
        print(f"Set VOSK_MODEL_PATH={dest} so the gateway finds it.")
    return 0


def _download(url: str, target: Path) -> str:
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=30) as response, target.open("wb") as out:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _unpack(archive: Path, into: Path) -> Path:
    """Extract (refusing paths that leave the folder) and return the model's top directory."""
    into.mkdir()
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.namelist():
            target = (into / member).resolve()
            if not target.is_relative_to(into.resolve()):
                raise ValueError(f"archive entry {member!r} points outside the target folder")
        bundle.extractall(into)
    entries = [entry for entry in into.iterdir() if not entry.name.startswith(".")]
    top = entries[0] if len(entries) == 1 and entries[0].is_dir() else into
    if not (top / "am" / "final.mdl").is_file():
        raise ValueError("the archive holds no Vosk model (am/final.mdl missing)")
    return top


def show_status(args: argparse.Namespace) -> int:
    from voice.recognizer import FAILED, READY, ModelStatus, VoskRecognizer, inspect_model_dir

    settings = VoiceSettings.from_env()
    status = inspect_model_dir(settings.model_path)
    if status is None and args.no_load:
        status = ModelStatus("present", str(settings.model_path), "files present, not loaded (--no-load)")
    elif status is None:
        try:
            recognizer = VoskRecognizer(str(settings.model_path))
            status = ModelStatus(READY, str(settings.model_path), sample_rate=recognizer.sample_rate)
        except Exception as exc:
            status = ModelStatus(FAILED, str(settings.model_path), f"model failed to load: {exc}")
    report = {
        "asr": status.state,
        "model": status.path,
        "reason": status.reason,
        "sample_rate": status.sample_rate,
        "workers": settings.workers,
        "max_seconds": settings.max_seconds,
        "min_confidence": settings.min_confidence,
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    print(f"ASR model:      {report['model']}")
    print(f"state:          {report['asr']}" + (f" ({report['reason']})" if report["reason"] else ""))
    if status.sample_rate:
        print(f"sample rate:    {status.sample_rate} Hz")
    print(f"workers:        {settings.workers} (ASR_WORKERS)")
    print(f"max note:       {settings.max_seconds:g} s (VOICE_MAX_SECONDS)")
    print(f"min confidence: {settings.min_confidence:g} (ASR_MIN_CONFIDENCE)")
    if status.state != READY:
        print("Without a model, voice notes use WeChat's Recognition text when present, otherwise a human agent.")
        print("Install the model with `csbot voice download-model` (needs internet) or set VOSK_MODEL_PATH.")
    return 0


def transcribe_file(args: argparse.Namespace) -> int:
    from voice.normalize import normalize_transcript
    from voice.recognizer import VoskRecognizer, inspect_model_dir, transcribe_audio

    settings = VoiceSettings.from_env()
    model_path = args.model or settings.model_path
    problem = inspect_model_dir(model_path)
    if problem is not None:
        print(f"error: {problem.reason}", file=sys.stderr)
        return 2
    if not args.file.is_file():
        print(f"error: no such file {args.file}", file=sys.stderr)
        return 2
    recognizer = VoskRecognizer(str(model_path))
    result = transcribe_audio(recognizer, args.file.read_bytes(), args.file.suffix.lstrip("."), settings.max_seconds)
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
        return 1
    confidence = f"{result.confidence:.2f}" if result.confidence is not None else "-"
    print(f"text:       {normalize_transcript(result.text)}")
    print(f"raw:        {result.text}")
    print(f"confidence: {confidence} ({len(result.words)} words)")
    print(f"audio:      {result.audio_seconds:.2f} s{' (truncated)' if result.truncated else ''}, "
          f"decode {result.decode_seconds:.2f} s, recognise {result.recognise_seconds:.2f} s")  # fmt: skip
    return 0
