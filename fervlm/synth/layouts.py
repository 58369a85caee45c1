"""Writers of one synthetic subject in each benchmark's own file layout (docs/datasets.md §1-§5).

Every function here writes one subject's files and returns what it wrote; `fervlm.synth.generate` runs them
(possibly in parallel) and writes the root files. Each sample also gets a per-vertex AU-region sidecar for
explanation ground truth: `<mesh stem>.au.npy` beside a 3D mesh, `au.npy` in a 4D sequence folder (the
topology is fixed, so it holds for every frame). Bit k of a vertex is `AU_NAMES[k]`; only AUs active in the
sample set bits, so `decode_mask(np.load(path))` lists the sample's active AUs.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fervlm.io import Mesh, write_bnd, write_bnt, write_lm3, write_obj, write_wrl
from fervlm.io.bnt import grid_to_mesh
from fervlm.synth.aus import AU_NAMES
from fervlm.synth.expressions import EMOTIONS, MICRO_AUS, MICRO_CLASSES, FaceRig, sample_activations
from fervlm.synth.scanner import Pose, add_noise, hole_mask, make_texture
from fervlm.synth.sequences import drift, micro_profile, posed_profile, spontaneous_profile
from fervlm.utils import atomic_write_bytes

BU3DFE_CODES = {
    "anger": "AN",
    "disgust": "DI",
    "fear": "FE",
    "happiness": "HA",
    "sadness": "SA",
    "surprise": "SU",
}
BU4DFE_FOLDERS = {
    "anger": "Angry",
    "disgust": "Disgust",
    "fear": "Fear",
    "happiness": "Happy",
    "sadness": "Sad",
    "surprise": "Surprise",
}
BOSPHORUS_CODES = {
    "anger": "ANGER",
    "disgust": "DISGUST",
    "fear": "FEAR",
    "happiness": "HAPPY",
    "sadness": "SADNESS",
    "surprise": "SURPRISE",
}
BP4D_TASK_EMOTIONS = {
    "T1": "happiness",
    "T2": "sadness",
    "T3": "surprise",
    "T4": "embarrassment",
    "T5": "fear",
    "T6": "pain",
    "T7": "anger",
    "T8": "disgust",
}
"""The generator's task emotions: the commonly quoted mapping (Zhang et al. 2014) of the shipped task table
(`fervlm/resources/bp4d_tasks.csv`)."""


@dataclass
class Settings:
    """Per-layout generation settings shared by every subject."""

    resolution: int
    frames: int
    noise: float
    texture: bool


@dataclass
class SubjectResult:
    """What one subject's writer produced."""

    files: list[Path] = field(default_factory=list)
    samples: int = 0
    label_rows: list[dict[str, object]] = field(default_factory=list)

    def add(self, path: Path) -> None:
        self.files.append(Path(path))


def _save_npy(path: Path, array: np.ndarray) -> Path:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array, dtype=np.int64), allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())


def _save_image(path: Path, image: np.ndarray, fmt: str) -> Path:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt)
    return atomic_write_bytes(path, buf.getvalue())


def _scan(rig: FaceRig, act: np.ndarray, pose: Pose, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Deformed, posed, noisy vertices (N, 3)."""
    return pose.apply(add_noise(rig.deform(act), noise, rng))


def _mesh(rig: FaceRig, vertices: np.ndarray, keep: np.ndarray, texture: bool) -> Mesh:
    return Mesh(vertices=vertices, faces=rig.model.faces[keep], uv=rig.model.uv if texture else None)


def write_bu3dfe_subject(rig: FaceRig, out: Path, rng: np.random.Generator, st: Settings) -> SubjectResult:
    """`F0001/F0001_<EE><II><RR>_F3D.{wrl,bnd,au.npy}`: a neutral plus 6 expressions × 4 intensities."""
    res = SubjectResult()
    sid, eth = rig.subject.subject_id, rig.subject.ethnicity
    folder = out / sid
    tex = make_texture(rig.model) if st.texture else None
    samples = [("neutral", 0)] + [(e, i) for e in EMOTIONS for i in range(1, 5)]
    for emotion, intensity in samples:
        code = "NE" if emotion == "neutral" else BU3DFE_CODES[emotion]
        stem = f"{sid}_{code}{intensity:02d}{eth}_F3D"
        act = sample_activations(emotion, intensity / 4.0, rig.subject, rng)
        verts = _scan(rig, act, Pose.random(rng), st.noise, rng)
        mesh = _mesh(rig, verts, hole_mask(rig.model, rng), st.texture)
        res.add(write_wrl(folder / f"{stem}.wrl", mesh, texture_name=f"{stem}.bmp" if st.texture else ""))
        lm = rig.model.landmarks83
        res.add(write_bnd(folder / f"{stem}.bnd", verts[lm], lm))
        res.add(_save_npy(folder / f"{stem}.au.npy", rig.labels(act)))
        if tex is not None:
            res.add(_save_image(folder / f"{stem}.bmp", tex, "BMP"))
        res.samples += 1
    return res


def _write_sequence(
    rig: FaceRig,
    folder: Path,
    acts: np.ndarray,
    apex_act: np.ndarray,
    rng: np.random.Generator,
    st: Settings,
    *,
    ext: str,
    digits: int,
    landmarks: bool = False,
    pitch: np.ndarray | None = None,
) -> SubjectResult:
    """Frames `<000>.<ext>` of one sequence (fixed holes, slowly drifting pose) and its `au.npy`."""
    res = SubjectResult()
    keep = hole_mask(rig.model, rng)
    start, end = Pose.random(rng), Pose.random(rng, degrees=1.5, scale=0.0, shift=0.5)
    tex = make_texture(rig.model) if st.texture else None
    n = len(acts)
    for t in range(n):
        w = t / max(n - 1, 1)
        pose = Pose(
            start.yaw + w * end.yaw,
            start.pitch + w * end.pitch + (0.0 if pitch is None else pitch[t]),
            start.roll + w * end.roll,
            start.scale,
            tuple(a + w * b for a, b in zip(start.shift, end.shift, strict=True)),
        )
        verts = _scan(rig, acts[t], pose, st.noise, rng)
        mesh = _mesh(rig, verts, keep, st.texture)
        name = f"{t:0{digits}d}"
        if ext == ".wrl":
            res.add(write_wrl(folder / f"{name}.wrl", mesh, texture_name=f"{name}.jpg" if st.texture else ""))
        else:
            if tex is not None:
                mesh.texture_path = folder / f"{name}.jpg"
            res.add(write_obj(folder / f"{name}{ext}", mesh, decimals=3))
            if tex is not None:
                res.add(folder / f"{name}.mtl")
        if tex is not None:
            res.add(_save_image(folder / f"{name}.jpg", tex, "JPEG"))
        if landmarks:
            lm = rig.model.landmarks83
            res.add(write_bnd(folder / f"{name}.bnd", verts[lm], lm))
    res.add(_save_npy(folder / "au.npy", rig.labels(apex_act)))
    res.samples = 1
    return res


def _merge(into: SubjectResult, part: SubjectResult) -> None:
    into.files += part.files
    into.samples += part.samples
    into.label_rows += part.label_rows


def write_bu4dfe_subject(rig: FaceRig, out: Path, rng: np.random.Generator, st: Settings) -> SubjectResult:
    """`F001/<Angry|Disgust|Fear|Happy|Sad|Surprise>/000.wrl` (+ `000.bnd`) posed sequences."""
    res = SubjectResult()
    for emotion in EMOTIONS:
        apex = sample_activations(emotion, rng.uniform(0.75, 1.0), rig.subject, rng)
        prof, _ = posed_profile(st.frames, rng)
        acts = prof[:, None] * apex[None, :]
        folder = out / rig.subject.subject_id / BU4DFE_FOLDERS[emotion]
        _merge(res, _write_sequence(rig, folder, acts, apex, rng, st, ext=".wrl", digits=3, landmarks=True))
    return res


def write_bp4d_subject(rig: FaceRig, out: Path, rng: np.random.Generator, st: Settings) -> SubjectResult:
    """`F001/T1/0000.obj` … spontaneous task sequences T1-T8 (lower, varying intensity, drifting AU noise)."""
    res = SubjectResult()
    for task, emotion in BP4D_TASK_EMOTIONS.items():
        apex = sample_activations(emotion, rng.uniform(0.5, 0.8), rig.subject, rng, noise_aus=False)
        prof = spontaneous_profile(st.frames, rng)
        acts = prof[:, None] * apex[None, :] + drift(st.frames, len(AU_NAMES), rng)
        # Embarrassment comes with the head turning down (gaze aversion); the other tasks keep the head still.
        pitch = -10.0 * prof if emotion == "embarrassment" else None
        folder = out / rig.subject.subject_id / task
        _merge(res, _write_sequence(rig, folder, acts, apex, rng, st, ext=".obj", digits=4, pitch=pitch))
    return res


def write_4dme_subject(rig: FaceRig, out: Path, rng: np.random.Generator, st: Settings) -> SubjectResult:
    """`<subject>/<clip>/000.obj` short low-intensity AU bursts, one clip per micro-expression class."""
    res = SubjectResult()
    sid = rig.subject.subject_id
    for k, label in enumerate(rng.permutation(MICRO_CLASSES).tolist()):
        options = MICRO_AUS[label]
        aus = options[int(rng.integers(len(options)))]
        apex = np.zeros(len(AU_NAMES))
        for au in aus:
            apex[AU_NAMES.index(au)] = rng.uniform(0.2, 0.4) * rig.subject.au_gain[au]
        prof, phases = micro_profile(st.frames, rng)
        acts = prof[:, None] * apex[None, :]
        clip = f"{sid}_{k + 1:02d}"
        _merge(res, _write_sequence(rig, out / sid / clip, acts, apex, rng, st, ext=".obj", digits=3))
        res.label_rows.append(
            {
                "sub_ID": sid,
                "fold_name": clip,
                "Emotion": label.capitalize(),
                "Onset": phases.onset,
                "Apex": phases.apex,
                "Offset": phases.offset,
                "AUs": "+".join(a.removeprefix("AU") for a in aus),
            }
        )
    return res


def _bnt_sample(
    rig: FaceRig,
    folder: Path,
    stem: str,
    act: np.ndarray,
    pose: Pose,
    rng: np.random.Generator,
    st: Settings,
    res: SubjectResult,
) -> None:
    """One Bosphorus sample: `<stem>.bnt` range grid with NaN background and holes, `.lm3`, `.au.npy`."""
    model = rig.model
    verts = _scan(rig, act, pose, st.noise, rng)
    keep_faces = hole_mask(model, rng)
    valid_v = np.zeros(len(verts), dtype=bool)
    valid_v[model.faces[keep_faces].ravel()] = True
    gi = model.grid_index
    grid = np.full((*gi.shape, 3), np.nan)
    uv = np.zeros((*gi.shape, 2))
    cells = gi >= 0
    grid[cells] = np.where(valid_v[gi[cells]][:, None], verts[gi[cells]], np.nan)
    uv[cells] = model.uv[gi[cells]]
    res.add(write_bnt(folder / f"{stem}.bnt", grid, uv, imfile=f"{stem}.png"))
    # The reader keeps the valid cells some triangle uses, in row-major order: align the labels to those.
    keep_cells, _ = grid_to_mesh(np.nan_to_num(grid), np.isfinite(grid).all(axis=-1))
    res.add(_save_npy(folder / f"{stem}.au.npy", rig.labels(act)[gi.ravel()[keep_cells]]))
    named = {k: verts[i] for k, i in model.landmarks_named.items() if valid_v[i]}
    res.add(write_lm3(folder / f"{stem}.lm3", named))
    if st.texture:
        res.add(_save_image(folder / f"{stem}.png", make_texture(model), "PNG"))
    res.samples += 1


def write_bosphorus_subject(
    rig: FaceRig, out: Path, rng: np.random.Generator, st: Settings, *, drop_emotion: bool = False
) -> SubjectResult:
    """`bs000/bs000_E_HAPPY_0.{bnt,lm3,au.npy}` for the six emotions, a neutral and two non-emotion decoys."""
    res = SubjectResult()
    sid = rig.subject.subject_id
    folder = out / sid
    emotions = list(EMOTIONS)
    if drop_emotion:
        emotions.pop(int(rng.integers(len(emotions))))
    zero = np.zeros(len(AU_NAMES))
    _bnt_sample(rig, folder, f"{sid}_N_N_0", zero, Pose.random(rng), rng, st, res)
    for emotion in emotions:
        act = sample_activations(emotion, rng.uniform(0.7, 1.0), rig.subject, rng)
        _bnt_sample(rig, folder, f"{sid}_E_{BOSPHORUS_CODES[emotion]}_0", act, Pose.random(rng), rng, st, res)
    au12 = zero.copy()
    au12[AU_NAMES.index("AU12")] = 0.8
    _bnt_sample(rig, folder, f"{sid}_LFAU_12L_0", au12, Pose.random(rng), rng, st, res)
    _bnt_sample(rig, folder, f"{sid}_YR_R90_0", zero, Pose(yaw=90.0), rng, st, res)
    return res
