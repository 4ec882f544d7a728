"""A clip in and out through the ffmpeg binary that the imageio-ffmpeg wheel ships: what a clip is (size as shown,
rotation honoured, frame rate, length, audio, transparency), its frames decoded at a constant rate and a chosen size
one at a time, and the finished frames encoded as an H.264 MP4 (yuv420p) with the clip's first audio track (copied,
or AAC where it cannot be copied), or as an animated WebP or GIF.

ffmpeg only ever reads the clip as a local file (`file:` and no other protocol) through the demuxers of ordinary
video containers, so a "video" that is really a playlist cannot make it read other files or the network."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from engine.errors import ExportError, VideoError
from engine.export import AnimationOptions, encode_animation, ffmpeg_executable, write_atomically
from engine.transparency import flatten

# The containers a clip may come in (ffmpeg's demuxer names): MP4/MOV/M4V/3GP, Matroska/WebM, AVI, FLV, MPEG-PS
# and -TS, Ogg, ASF/WMV and GIF. Not image2, concat, hls or any other that reads further files named in the clip.
DEMUXERS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpeg,mpegts,ogg,asf,gif"
SAFE_INPUT = ("-protocol_whitelist", "file", "-format_whitelist", DEMUXERS)
PROBE_TIMEOUT_S = 120.0
VIDEO_CRF = 18  # x264's constant quality: the frames' painted texture is fine detail worth keeping
AUDIO_BITRATE = "192k"  # when the clip's audio has to be re-encoded (to AAC)
DEFAULT_FPS = Fraction(25)  # when a clip does not say its frame rate
MAX_ANIMATION_FRAMES = 600  # an animated WebP or GIF is made in memory: about 20 s of a clip
# the pixel formats of frames with an alpha channel (ffmpeg's names, by prefix)
_ALPHA_FORMATS = ("yuva", "rgba", "bgra", "argb", "abgr", "gbrap", "ya8", "ya16")


def _source(path: Path) -> str:
    """The clip as ffmpeg's input: always through the file protocol (a name such as "concat:a|b" stays a name)."""
    return "file:" + os.path.abspath(path)


@dataclass(frozen=True)
class ClipInfo:
    """What a clip is, as its frames will be decoded (rotation applied)."""

    path: Path
    width: int
    height: int
    fps: Fraction  # its frame rate (DEFAULT_FPS when it does not say)
    duration: float | None  # seconds, None when the clip does not say
    audio: str | None  # the codec of its first audio track, None when it has none
    alpha: bool  # its frames have transparency (flattened over white: a video keeps none)
    fps_known: bool = True

    def frame_count(self, fps: Fraction, start: float = 0.0, duration: float | None = None) -> int | None:
        """About how many frames rendering from `start` for `duration` seconds at `fps` gives (None: unknown)."""
        length = None if self.duration is None else max(0.0, self.duration - start)
        if duration is not None:
            length = duration if length is None else min(length, duration)
        return None if length is None else max(0, round(length * fps))


def _last_lines(text: str, count: int = 2) -> str:
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    return "; ".join(lines[-count:])[-300:]


def probe(path: str | os.PathLike[str]) -> ClipInfo:
    """What the clip at `path` is, decoding its first frame; a VideoError naming the file when it is not a video
    Fude can read or has no frames."""
    p = Path(path)
    exe = ffmpeg_executable(p)
    command = [exe, "-hide_banner", "-nostdin", *SAFE_INPUT, "-i", _source(p), "-map", "0:v:0?", "-frames:v", "1",
               "-f", "null", "-"]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=PROBE_TIMEOUT_S, start_new_session=os.name == "posix")
    except subprocess.TimeoutExpired:
        raise VideoError(p, f"ffmpeg took over {PROBE_TIMEOUT_S:g} s to read its first frame") from None
    except OSError as exc:
        raise VideoError(p, f"ffmpeg ({exe}) could not be started: {exc.strerror or exc}") from None
    text = done.stderr.decode("utf-8", "replace")
    return parse_probe(p, text)


def parse_probe(path: Path, text: str) -> ClipInfo:
    """ClipInfo from what `ffmpeg -i CLIP -frames:v 1 -f null -` printed (see probe)."""
    if "Input #0" not in text:
        said = _last_lines(text, 1)
        raise VideoError(path, "is not a video Fude can read (MP4, MOV, MKV, WebM, AVI, FLV, MPEG, Ogg, WMV or GIF)"
                         + (f": {said}" if said else ""))
    head, _, tail = text.partition("Output #0")
    videos = [line for line in head.splitlines() if re.search(r"Stream #0:\d+.*: Video: ", line)
              and "(attached pic)" not in line]
    if not videos:
        raise VideoError(path, "has no video track (a sound file, or a still picture?)")
    video = videos[0].split(": Video: ", 1)[1]
    frames = re.findall(r"frame=\s*(\d+)", tail)
    if not frames or int(frames[-1]) == 0:
        raise VideoError(path, "has no frames that can be decoded" + (f" ({_last_lines(tail, 1)})"
                                                                       if _last_lines(tail, 1) else ""))
    shown = [line for line in tail.splitlines() if ": Video: " in line]
    size = re.search(r", (\d{1,5})x(\d{1,5})[ ,]", shown[0] if shown else video)
    if size is None:
        raise VideoError(path, "has a video track whose frame size ffmpeg does not say")
    rate = re.search(r", (\d+(?:\.\d+)?)(k?) fps", video) or re.search(r", (\d+(?:\.\d+)?)(k?) tbr", video)
    fps_known = rate is not None
    fps = _frame_rate(float(rate.group(1)) * (1000 if rate.group(2) else 1)) if rate is not None else DEFAULT_FPS
    length = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", head)
    duration = int(length.group(1)) * 3600 + int(length.group(2)) * 60 + float(length.group(3)) if length else None
    audio = re.search(r"Stream #0:\d+.*: Audio: (\w+)", head)
    pixels = re.split(r",\s*(?![^()]*\))", video)
    pix_fmt = pixels[1].strip().split("(")[0].split(" ")[0] if len(pixels) > 1 else ""
    return ClipInfo(path=path, width=int(size.group(1)), height=int(size.group(2)), fps=fps, duration=duration,
                    audio=audio.group(1) if audio else None, alpha=pix_fmt.startswith(_ALPHA_FORMATS),
                    fps_known=fps_known)


def _frame_rate(value: float) -> Fraction:
    """A frame rate as ffmpeg prints it (29.97, 23.98, 25) as an exact fraction: NTSC's 30000/1001 and kin."""
    for base in (24, 30, 48, 60, 120):
        ntsc = Fraction(base * 1000, 1001)
        if abs(value - float(ntsc)) < 0.006:
            return ntsc
    return Fraction(value).limit_denominator(1000)


def even_size(width: int, height: int) -> tuple[int, int]:
    """A frame size H.264 in yuv420p can hold: both sides even (one pixel less where odd)."""
    return max(2, width - width % 2), max(2, height - height % 2)


class FrameReader:
    """The frames of a clip, decoded by ffmpeg at a constant rate (`fps`: a variable frame rate becomes constant,
    frames repeated or dropped as their times say) and at `size` (Lanczos), from `start` for `duration` seconds,
    one H x W x 3 uint8 frame at a time; transparency is flattened over white. After the last frame, `problem`
    says why decoding stopped early when the clip is damaged (None: the clip ended). `close()` stops ffmpeg."""

    def __init__(self, info: ClipInfo, size: tuple[int, int], fps: Fraction, start: float = 0.0,
                 duration: float | None = None) -> None:
        self.info = info
        self.size = size
        self.expected = info.frame_count(fps, start, duration)
        self.count = 0
        self.problem: str | None = None
        width, height = size
        self._channels = 4 if info.alpha else 3
        window = ["-ss", f"{start:.6f}"] if start > 0 else []
        limit = ["-t", f"{duration:.6f}"] if duration is not None else []
        command = [ffmpeg_executable(info.path), "-hide_banner", "-nostdin", "-loglevel", "error", *SAFE_INPUT,
                   *window, "-i", _source(info.path), *limit, "-map", "0:v:0", "-an", "-sn",
                   "-vf", f"fps={fps.numerator}/{fps.denominator},scale={width}:{height}:flags=lanczos",
                   "-f", "rawvideo", "-pix_fmt", "rgba" if info.alpha else "rgb24", "pipe:1"]
        self._errors = tempfile.TemporaryFile()
        try:
            # a session of its own: Ctrl+C in a terminal reaches Fude, which stops ffmpeg itself
            self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._errors,
                start_new_session=os.name == "posix")
        except OSError as exc:
            self._errors.close()
            raise VideoError(info.path, f"ffmpeg could not be started: {exc.strerror or exc}") from None

    def __iter__(self) -> Iterator[np.ndarray]:
        width, height = self.size
        length = width * height * self._channels
        process = self._process
        if process is None or process.stdout is None:
            return
        while True:
            data = process.stdout.read(length)
            while data and len(data) < length:
                more = process.stdout.read(length - len(data))
                if not more:
                    break
                data += more
            if len(data) < length:
                self._finish(partial=bool(data))
                return
            frame = np.frombuffer(data, np.uint8).reshape(height, width, self._channels)
            self.count += 1
            yield flatten(frame) if self._channels == 4 else frame.copy()

    def _finish(self, partial: bool) -> None:
        """The stream ended: wait for ffmpeg and say whether it ended early (a damaged or truncated clip)."""
        process = self._process
        assert process is not None
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = -1
        self._errors.seek(0)
        said = _last_lines(self._errors.read().decode("utf-8", "replace"))
        short = self.expected is None or self.count < self.expected - 1
        if code != 0 or partial or (said and short):
            of = f" of about {self.expected}" if self.expected else ""
            self.problem = (f"the clip is damaged or cut short: decoding stopped after frame {self.count}{of}"
                            + (f" ({said})" if said else ""))
        self.close()

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.kill()
            if process.stdout is not None:
                process.stdout.close()
            process.wait()
        self._errors.close()


def first_frame(path: str | os.PathLike[str], size: tuple[int, int] | None = None) -> tuple[np.ndarray, ClipInfo]:
    """A clip's first frame (at `size`, or its own size as shown) and what the clip is: what a Content pane shows of
    a dropped clip. A VideoError naming the file when it cannot be."""
    info = probe(path)
    reader = FrameReader(info, size or (info.width, info.height), info.fps)
    try:
        frame = next(iter(reader), None)
    finally:
        reader.close()
    if frame is None:
        raise VideoError(info.path, "has no frames that can be decoded")
    return frame, info


def encode_video(output: Path, frames: Sequence[Path], fps: Fraction, work: Path, clip: ClipInfo | None,
                 start: float = 0.0, duration: float | None = None, replace: bool = True) -> tuple[Path, str | None]:
    """Write `frames` (PNG files of one even size, in order) to `output` at `fps`, atomically: an MP4 (H.264,
    yuv420p) with `clip`'s first audio track from `start` for `duration` (copied, or AAC where the MP4 cannot hold
    it as it is), or an animated WebP or GIF (no sound) by `output`'s suffix. `work` is a folder for the encode.
    `replace`: `output` is a name the user chose, and a file there is replaced; otherwise a file there is never
    replaced and the first free numbered name is taken (engine.export.write_atomically). The file written, and a
    note for the user (the audio re-encoded or left out) or None; an ExportError when it cannot be written."""
    if not frames:
        raise ExportError(output, "there are no frames to write")
    fmt = output.suffix.lower().lstrip(".")
    if fmt in ("webp", "gif"):
        if len(frames) > MAX_ANIMATION_FRAMES:
            raise ExportError(output, f"an animated {fmt.upper()} holds at most {MAX_ANIMATION_FRAMES} frames and "
                              f"this clip has {len(frames)}; write an .mp4")
        images = [np.asarray(Image.open(frame).convert("RGB")) for frame in frames]
        frame_ms = max(10, round(1000 / fps))
        options = AnimationOptions(frame_count=len(images), frame_ms=frame_ms, last_frame_ms=frame_ms)
        data = encode_animation(images, fmt, options, target=output)
        written = write_atomically(output, lambda handle: handle.write(data), replace=replace)
        return written, (f"an animated {fmt.upper()} has no sound: the clip's audio is left out"
                         if clip and clip.audio else None)
    encoded = work / "encoded.mp4"
    note = None
    audio: list[str] = []
    if clip is not None and clip.audio is not None:
        window = ["-ss", f"{start:.6f}"] if start > 0 else []
        limit = ["-t", f"{duration:.6f}"] if duration is not None else []
        audio = [*SAFE_INPUT, *window, *limit, "-i", _source(clip.path)]
    if audio:
        problem = _run_encode(output, frames, fps, encoded, audio, ["-map", "1:a:0", "-c:a", "copy"])
        if problem is not None:
            note = f"the clip's audio ({clip.audio if clip else ''}) cannot go into an MP4 as it is: it is made AAC"
            problem = _run_encode(output, frames, fps, encoded, audio,
                                  ["-map", "1:a:0", "-c:a", "aac", "-b:a", AUDIO_BITRATE])
    else:
        problem = _run_encode(output, frames, fps, encoded, [], [])
    if problem is not None:
        raise ExportError(output, problem)
    try:
        with open(encoded, "rb") as source:
            written = write_atomically(output, lambda handle: shutil.copyfileobj(source, handle, 1 << 20),
                                       replace=replace)
    finally:
        encoded.unlink(missing_ok=True)
    return written, note


def _run_encode(output: Path, frames: Sequence[Path], fps: Fraction, encoded: Path,
                audio_input: list[str], audio_output: list[str]) -> str | None:
    """One ffmpeg encode of `frames` (consecutively numbered PNG files, such as 000001.png, in one folder) with
    the audio options given into `encoded`; what went wrong, or None."""
    first = frames[0]
    # the image2 demuxer reads a numbered sequence by a printf pattern: a '%' in the folder's name is doubled
    pattern = str(first.parent).replace("%", "%%") + os.sep + "%0" + str(len(first.stem)) + "d" + first.suffix
    exe = ffmpeg_executable(output)
    command = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
               "-framerate", f"{fps.numerator}/{fps.denominator}", "-start_number", str(int(first.stem)),
               "-f", "image2", "-i", pattern, *audio_input, "-map", "0:v:0", *audio_output,
               "-frames:v", str(len(frames)), "-c:v", "libx264", "-preset", "medium", "-crf", str(VIDEO_CRF),
               "-pix_fmt", "yuv420p", "-r", f"{fps.numerator}/{fps.denominator}", "-movflags", "+faststart",
               "-f", "mp4", str(encoded)]
    timeout = 600.0 + 2.0 * len(frames)
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=timeout, start_new_session=os.name == "posix")
    except subprocess.TimeoutExpired:
        return f"ffmpeg took over {timeout:g} s to encode the video and was stopped"
    except OSError as exc:
        return f"ffmpeg ({exe}) could not be started: {exc.strerror or exc}"
    if done.returncode != 0 or not encoded.exists():
        encoded.unlink(missing_ok=True)
        said = _last_lines(done.stderr.decode("utf-8", "replace"))
        if "No space left" in said:
            return "the disk is full"
        return f"ffmpeg could not encode the video (exit status {done.returncode})" + (f": {said}" if said else "")
    return None
