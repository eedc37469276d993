"""Make awkward or broken media from a real clip, for the reliability tests and the demo sheet.

Each ``make_<case>(src, out_dir) -> Path`` writes one file (atomically: temp name, then rename)
and returns its path; it is skipped when the file already exists. Every case takes seconds:
stream copy where the container allows it, otherwise a short, small, fast encode.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

# byte-identical output for identical input (no encoder version strings, no creation time)
BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"]
BITEXACT += ["-map_metadata", "-1", "-map_chapters", "-1"]


class FFmpegError(RuntimeError):
    """ffmpeg failed; the message has the command's last lines of stderr."""


def run_ffmpeg(
    args: Sequence[str],
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    source: Sequence[str] | None = None,
) -> Path:
    """Run ``ffmpeg <args> <tmp>`` and rename tmp to ``out`` (skip when ``out`` exists).

    ``source``: arguments of a first ffmpeg whose stdout is piped into this one's stdin.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    if source is None:
        r = subprocess.run([*cmd, str(tmp)], capture_output=True, text=True)
        rc, err = r.returncode, r.stderr
    else:
        head = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", *map(str, source)]
        with subprocess.Popen(head, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p1:
            r = subprocess.run([*cmd, str(tmp)], stdin=p1.stdout, capture_output=True, text=True)
            p1.stdout.close()
            err1 = p1.stderr.read().decode(errors="replace")
        rc, err = r.returncode or p1.returncode, err1 + r.stderr
    if rc != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        raise FFmpegError(f"ffmpeg failed for {out.name}: {' '.join(cmd)}\n{err[-1500:]}")
    os.replace(tmp, out)
    return out


def _write_bytes(out: Path, data: bytes) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out)
    return out


def _copy_suffix(src: Path) -> str:
    """Container for a stream copy of ``src``: its own for mp4/mov, else Matroska (takes all)."""
    return src.suffix.lower() if src.suffix.lower() in {".mp4", ".mov", ".mkv"} else ".mkv"


def make_truncated(src: Path, out_dir: Path, fraction: float = 0.5) -> Path:
    """First ``fraction`` of the bytes: an mp4 with its index at the end becomes unreadable."""
    out = Path(out_dir) / f"truncated{Path(src).suffix.lower()}"
    if not out.exists():
        data = Path(src).read_bytes()
        _write_bytes(out, data[: int(len(data) * fraction)])
    return out


def make_truncated_end(
    src: Path, out_dir: Path, keep_bytes: int = 40_000, seconds: float = 4.0
) -> Path:
    """An mp4 cut at its end: ``seconds`` of the clip re-encoded with its index first
    (``+faststart``, as web video is), then only its first ``keep_bytes``. The header still
    declares the whole duration and every stream probes fine; decoding stops early."""
    full = Path(out_dir) / "faststart.mp4"
    args = ["-i", src, "-t", seconds, "-vf", "scale=-2:240", "-c:v", "libx264"]
    args += ["-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k"]
    run_ffmpeg([*args, "-threads", "1", "-movflags", "+faststart", *BITEXACT], full)
    out = Path(out_dir) / "truncated_end.mp4"
    if not out.exists():
        _write_bytes(out, full.read_bytes()[:keep_bytes])
    return out


def make_byteflip(src: Path, out_dir: Path, n_blocks: int = 8, block: int = 2048) -> Path:
    """Invert blocks of bytes spread over the middle third: the header parses, frames are damaged."""
    out = Path(out_dir) / f"byteflip{Path(src).suffix.lower()}"
    if not out.exists():
        data = bytearray(Path(src).read_bytes())
        lo, hi = len(data) // 3, 2 * len(data) // 3
        step = max((hi - lo) // n_blocks, block)
        for start in range(lo, hi - block, step):
            data[start : start + block] = bytes(b ^ 0xFF for b in data[start : start + block])
        _write_bytes(out, bytes(data))
    return out


def make_zero_length(src: Path, out_dir: Path) -> Path:
    """An empty file with a video name."""
    out = Path(out_dir) / "zero_length.mp4"
    if not out.exists():
        _write_bytes(out, b"")
    return out


def make_text_as_mp4(src: Path, out_dir: Path) -> Path:
    """A text file renamed .mp4 (a download that saved an error page)."""
    out = Path(out_dir) / "text_as.mp4"
    if not out.exists():
        _write_bytes(out, b"<html><body>404 Not Found: this is not a video.</body></html>\n" * 20)
    return out


def make_audio_only(src: Path, out_dir: Path) -> Path:
    """The clip's soundtrack alone, AAC in .m4a: no video stream."""
    out = Path(out_dir) / "audio_only.m4a"
    return run_ffmpeg(["-i", src, "-vn", "-sn", "-c:a", "aac", "-b:a", "96k", *BITEXACT], out)


def make_no_audio(src: Path, out_dir: Path) -> Path:
    """The clip's video stream alone (stream copy): a video with no audio stream."""
    out = Path(out_dir) / f"no_audio{_copy_suffix(Path(src))}"
    return run_ffmpeg(["-i", src, "-map", "0:v:0", "-c", "copy", *BITEXACT], out)


def make_vfr(src: Path, out_dir: Path, seconds: float = 4.0) -> Path:
    """Variable frame rate: drop an irregular subset of frames and keep their timestamps."""
    out = Path(out_dir) / "vfr.mp4"
    vf = "select='not(mod(n\\,3))+not(mod(n\\,7))',scale=-2:240"
    args = ["-i", src, "-t", seconds, "-vf", vf, "-fps_mode", "vfr"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    return run_ffmpeg([*args, "-c:a", "aac", "-threads", "1", *BITEXACT], out)


def make_rotated(src: Path, out_dir: Path, degrees: int = 90) -> Path:
    """A phone-style video: same frames, a display matrix saying rotate by ``degrees``."""
    out = Path(out_dir) / f"rotated{degrees}.mp4"
    args = ["-i", src, "-map", "0:v:0", "-map", "0:a?", "-c", "copy"]
    return run_ffmpeg([*args, "-metadata:s:v:0", f"rotate={degrees}", *BITEXACT], out)


def make_4k(src: Path, out_dir: Path, seconds: float = 2.0) -> Path:
    """A short 3840x2160 clip (upscaled): memory and resize paths on large frames."""
    out = Path(out_dir) / "uhd_4k.mp4"
    args = ["-i", src, "-t", seconds, "-vf", "scale=3840:2160,setsar=1", "-r", "25"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    return run_ffmpeg([*args, *BITEXACT], out)


def make_long_video(
    src: str | os.PathLike, out: str | os.PathLike, minutes: float, height: int | None = 1080
) -> Path:
    """Loop ``src`` for ``minutes``; stream copy when its height is already ``height`` (fast).

    A different height costs one cheap encode of a single loop, which is then copied.
    """
    src, out = Path(src), Path(out)
    if out.exists():
        return out
    base = src
    if height is not None:
        h = _height(src)
        if h != height:
            base = out.with_name(f".{out.stem}.base{height}.mp4")
            vf = f"scale=-2:{height},setsar=1"
            args = ["-i", src, "-vf", vf, "-c:v", "libx264", "-preset", "ultrafast"]
            run_ffmpeg([*args, "-pix_fmt", "yuv420p", "-c:a", "aac", *BITEXACT], base)
    try:
        args = ["-stream_loop", "-1", "-i", base, "-t", f"{minutes * 60:.3f}", "-c", "copy"]
        return run_ffmpeg([*args, *BITEXACT], out)
    finally:
        if base != src:
            base.unlink(missing_ok=True)


def _height(path: Path) -> int | None:
    r = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=height"]
        + ["-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
    )
    try:
        return int(r.stdout.strip().splitlines()[0])
    except (ValueError, IndexError):
        return None


def make_long(src: Path, out_dir: Path, minutes: float = 1.0) -> Path:
    """A one-minute loop of the clip at its own height (stream copy)."""
    return make_long_video(src, Path(out_dir) / f"long_{minutes:g}min.mp4", minutes, height=None)


def make_surround51(src: Path, out_dir: Path) -> Path:
    """The clip with its soundtrack upmixed to a 5.1 (6-channel) AAC track."""
    out = Path(out_dir) / f"surround51{_copy_suffix(Path(src))}"
    args = ["-i", src, "-map", "0:v:0", "-map", "0:a:0", "-c:v", "copy"]
    args += ["-c:a", "aac", "-ac", "6", "-channel_layout", "5.1"]
    return run_ffmpeg([*args, *BITEXACT], out)


def make_mjpeg(src: Path, out_dir: Path, seconds: float = 3.0) -> Path:
    """Motion-JPEG in AVI with PCM sound, like old cameras and webcams write."""
    out = Path(out_dir) / "mjpeg.avi"
    args = ["-i", src, "-t", seconds, "-vf", "scale=-2:240", "-c:v", "mjpeg", "-q:v", "5"]
    args += ["-pix_fmt", "yuvj420p", "-c:a", "pcm_s16le"]
    return run_ffmpeg([*args, *BITEXACT], out)


def make_cinepak(src: Path, out_dir: Path, seconds: float = 2.0) -> Path:
    """Cinepak (1990s CD-ROM codec) in AVI, small frames: the encoder is slow on large ones."""
    out = Path(out_dir) / "cinepak.avi"
    args = ["-i", src, "-t", seconds, "-vf", "scale=160:120", "-r", "12", "-c:v", "cinepak"]
    args += ["-c:a", "pcm_s16le", "-threads", "1"]
    return run_ffmpeg([*args, *BITEXACT], out)


CASES: dict[str, Callable[[Path, Path], Path]] = {
    "truncated": make_truncated,
    "truncated_end": make_truncated_end,
    "byteflip": make_byteflip,
    "zero_length": make_zero_length,
    "text_as_mp4": make_text_as_mp4,
    "audio_only": make_audio_only,
    "no_audio": make_no_audio,
    "vfr": make_vfr,
    "rotated": make_rotated,
    "uhd_4k": make_4k,
    "long": make_long,
    "surround51": make_surround51,
    "mjpeg": make_mjpeg,
    "cinepak": make_cinepak,
}


def make_all(src_video: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Every case from one real clip (with video and audio) into ``out_dir``."""
    src, out_dir = Path(src_video), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if shutil.which("ffmpeg") is None:
        raise FFmpegError("ffmpeg is not on PATH")
    return {case: make(src, out_dir) for case, make in CASES.items()}
