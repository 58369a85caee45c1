"""The prior's pretraining corpus: synthetic identities that no evaluation set can contain, many random AU
combinations, rendered the way the methods see faces, each with several captions.

Why this design (the CLIP recipe on data we can generate; Radford et al., ICML 2021):

* **Identities from a separate seed namespace.** Evaluation sets (`fervlm.synth.generate`) draw subject `i`
  from ``SeedSequence(seed).spawn(n)[i]``: spawn key ``(i,)``, one element. The corpus draws identity `i`
  from ``SeedSequence(seed, spawn_key=(PRIOR_NAMESPACE, i))``: a two-element key. numpy hashes the spawn
  key into the stream (after padding the entropy to the pool size), so no `(seed, i)` of an evaluation set
  yields a corpus stream; `tests/prior/test_corpus.py` checks the identities are different faces.
* **Not only the six prototypes.** A face is neutral, an emotion prototype at a random strength (the
  generator's own `sample_activations`, with its noise AUs), one AU alone, or a random combination of 2-5
  AUs at random intensities, so the prior has to learn what each AU looks like, not six templates.
* **Rendered as the methods see faces**: scanner pose jitter, vertex noise and holes
  (`fervlm.synth.scanner`), then `fervlm.render.render_views` at the same yaws, size and mode as the
  prepared views, framed from the vertices as a loaded scan is.
* **Bounded memory**: images stream into a ``.npy`` memory map on disk; training reads batches from it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fervlm.synth.aus import AU_NAMES
from fervlm.synth.expressions import EMOTIONS, FaceRig, sample_activations
from fervlm.synth.face import sample_subject
from fervlm.synth.scanner import Pose, add_noise, hole_mask
from fervlm.utils import atomic_write_text

__all__ = [
    "FACE_KINDS",
    "PRIOR_NAMESPACE",
    "Corpus",
    "CorpusConfig",
    "build_corpus",
    "identity_seed",
    "load_corpus",
    "prior_subject",
    "sample_face",
]

PRIOR_NAMESPACE = 0xFAC5
"""First element of every corpus identity's spawn key (evaluation sets use one-element keys)."""

FACE_KINDS = ("neutral", "prototype", "single", "combination")


@dataclass(frozen=True)
class CorpusConfig:
    """What the corpus holds.

    Attributes:
        identities: synthetic identities (indices ``first_identity`` … ``+ identities - 1``).
        faces_per_identity: expressive faces drawn per identity.
        first_identity: index of the first identity in the namespace (held-out sets start after the
            training corpus, so they are new people).
        seed: entropy of the namespace (``SeedSequence(seed, spawn_key=(PRIOR_NAMESPACE, i))``).
        yaws: view angles in degrees (the methods' views).
        size: image size in pixels (the quick profile's 64).
        modes: render modes (each yaw is rendered in each mode).
        resolution: approximate vertices per face (as the evaluation sets).
        noise: vertex noise in mm; pose_degrees: head-pose jitter (±, per axis).
        mix: shares of the face kinds (`FACE_KINDS` order: neutral, prototype, single AU, combination).
    """

    identities: int = 160
    faces_per_identity: int = 24
    first_identity: int = 0
    seed: int = 0
    yaws: tuple[float, ...] = (-30.0, 0.0, 30.0)
    size: int = 64
    modes: tuple[str, ...] = ("shaded",)
    resolution: int = 5000
    noise: float = 0.15
    pose_degrees: float = 4.0
    mix: tuple[float, float, float, float] = (0.06, 0.44, 0.15, 0.35)

    def __post_init__(self) -> None:
        from fervlm.render import MODES

        for name in ("identities", "faces_per_identity", "size", "resolution"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"corpus {name}={getattr(self, name)}: must be >= 1")
        if self.first_identity < 0:
            raise ValueError(f"corpus first_identity={self.first_identity}: must be >= 0")
        bad = [m for m in self.modes if m not in MODES or m == "texture"]
        if bad or not self.modes:
            raise ValueError(f"corpus modes={list(self.modes)}: choose from shaded, depth, normals")
        if len(self.mix) != 4 or min(self.mix) < 0 or not np.isclose(sum(self.mix), 1.0):
            raise ValueError(f"corpus mix={list(self.mix)}: four non-negative shares summing to 1")

    @property
    def n_faces(self) -> int:
        return self.identities * self.faces_per_identity

    @property
    def n_views(self) -> int:
        return len(self.yaws) * len(self.modes)

    def to_dict(self) -> dict[str, object]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> CorpusConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"corpus: unknown key(s) {unknown}; valid: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def identity_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The random stream of corpus identity `index` (module docstring: the namespace)."""
    return np.random.SeedSequence(int(seed), spawn_key=(PRIOR_NAMESPACE, int(index)))


def prior_subject(seed: int, index: int):  # -> Subject
    """Corpus identity `index` as a `fervlm.synth.Subject` (id ``P<index>``)."""
    rng = np.random.default_rng(identity_seed(seed, index))
    return sample_subject(rng, subject_id=f"P{index:05d}"), rng


def sample_face(subject, rng: np.random.Generator, mix: Sequence[float]) -> tuple[np.ndarray, str, str]:
    """One face's AU activations.

    Returns:
        (activations (len(AU_NAMES),) after the subject's gains, kind (`FACE_KINDS`), source emotion or "").
    """
    kind = FACE_KINDS[int(rng.choice(4, p=np.asarray(mix, dtype=float) / sum(mix)))]
    gains = np.array([subject.au_gain.get(au, 1.0) for au in AU_NAMES])
    act = np.zeros(len(AU_NAMES))
    emotion = ""
    if kind == "prototype":
        emotion = EMOTIONS[int(rng.integers(len(EMOTIONS)))]
        return sample_activations(emotion, float(rng.uniform(0.35, 1.05)), subject, rng), kind, emotion
    if kind == "single":
        act[int(rng.integers(len(AU_NAMES)))] = rng.uniform(0.3, 1.0)
    elif kind == "combination":
        k = int(rng.integers(2, 6))
        act[rng.choice(len(AU_NAMES), size=k, replace=False)] = rng.uniform(0.2, 1.0, k)
    return act * gains, kind, emotion


def _identity_job(config: CorpusConfig, index: int) -> tuple[np.ndarray, np.ndarray, list[dict[str, object]]]:
    """Render every face of one identity: (images (F, V, H, W, 3) uint8, activations (F, A), rows)."""
    from fervlm.io.mesh import Mesh
    from fervlm.render import render_views

    subject, rng = prior_subject(config.seed, index)
    rig = FaceRig.build(subject, config.resolution)
    F, V = config.faces_per_identity, config.n_views
    images = np.zeros((F, V, config.size, config.size, 3), dtype=np.uint8)
    acts = np.zeros((F, len(AU_NAMES)), dtype=np.float32)
    rows = []
    for f in range(F):
        act, kind, emotion = sample_face(subject, rng, config.mix)
        pose = Pose.random(rng, degrees=config.pose_degrees)
        verts = pose.apply(add_noise(rig.deform(act), config.noise, rng))
        mesh = Mesh(vertices=verts, faces=rig.model.faces[hole_mask(rig.model, rng)])
        views = [render_views(mesh, config.yaws, config.size, mode) for mode in config.modes]
        images[f] = np.concatenate(views, axis=0)
        acts[f] = act
        rows.append(
            {
                "identity": index,
                "subject": subject.subject_id,
                "kind": kind,
                "emotion": emotion,
                "sex": subject.sex,
                "age_group": subject.age_group,
                "ethnicity": subject.ethnicity,
            }
        )
    return images, acts, rows


@dataclass
class Corpus:
    """A built corpus on disk: ``images.npy`` (N, V, H, W, 3) uint8 (memory-mapped), ``activations.npy``
    (N, A) float32, ``faces.json`` (one record per face) and ``corpus.json`` (config, timing)."""

    root: Path
    config: CorpusConfig
    images: np.ndarray
    activations: np.ndarray
    faces: list[dict[str, object]] = field(default_factory=list)
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.activations)

    @property
    def view_names(self) -> list[str]:
        from fervlm.viewpoints import view_name

        return [f"{m}/{view_name(y)}" for m in self.config.modes for y in self.config.yaws]


def load_corpus(root: str | Path) -> Corpus:
    """Open a built corpus (images memory-mapped, read-only).

    Raises:
        FileNotFoundError: the folder holds no finished corpus.
    """
    root = Path(root)
    info = root / "corpus.json"
    if not info.is_file():
        raise FileNotFoundError(f"{root}: no finished corpus (corpus.json missing); build it: build_corpus")
    meta = json.loads(info.read_text())
    return Corpus(
        root=root,
        config=CorpusConfig.from_dict(meta["config"]),
        images=np.load(root / "images.npy", mmap_mode="r"),
        activations=np.load(root / "activations.npy"),
        faces=json.loads((root / "faces.json").read_text()),
        seconds=float(meta.get("seconds", 0.0)),
    )


def build_corpus(
    config: CorpusConfig, root: str | Path, workers: int = 1, progress: bool = True, force: bool = False
) -> Corpus:
    """Render the corpus into `root` (reused when a finished corpus with the same config is there).

    Args:
        config: what to render.
        root: output folder (created).
        workers: processes (1 = here; more is faster on an idle machine).
        progress: tqdm bar over identities.
        force: rebuild even if a finished corpus with this config exists.

    Returns:
        The `Corpus` (images memory-mapped).
    """
    from tqdm.auto import tqdm

    root = Path(root)
    info = root / "corpus.json"
    if info.is_file() and not force:
        existing = load_corpus(root)
        if existing.config == config:
            return existing
    info.unlink(missing_ok=True)  # the folder is not a finished corpus while we write
    root.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    N, V, S = config.n_faces, config.n_views, config.size
    images = np.lib.format.open_memmap(root / "images.npy", mode="w+", dtype=np.uint8, shape=(N, V, S, S, 3))
    acts = np.zeros((N, len(AU_NAMES)), dtype=np.float32)
    faces: list[dict[str, object]] = []
    ids = list(range(config.first_identity, config.first_identity + config.identities))
    bar = tqdm(total=len(ids), desc="prior corpus", unit="identity", disable=not progress)
    F = config.faces_per_identity

    def store(k: int, result: tuple[np.ndarray, np.ndarray, list[dict[str, object]]]) -> None:
        images[k * F : (k + 1) * F], acts[k * F : (k + 1) * F] = result[0], result[1]
        faces.extend(result[2])
        bar.update()

    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers, initializer=_one_thread) as pool:
            for k, result in enumerate(pool.map(_identity_job, [config] * len(ids), ids)):
                store(k, result)
    else:
        for k, index in enumerate(ids):
            store(k, _identity_job(config, index))
    bar.close()
    images.flush()
    np.save(root / "activations.npy", acts)
    atomic_write_text(root / "faces.json", json.dumps(faces))
    seconds = time.perf_counter() - start
    atomic_write_text(
        info,
        json.dumps(
            {
                "config": config.to_dict(),
                "seconds": round(seconds, 2),
                "faces": N,
                "images": N * V,
                "au_names": list(AU_NAMES),
            },
            indent=1,
        ),
    )
    return load_corpus(root)


def _one_thread() -> None:
    from fervlm.render import set_num_threads

    set_num_threads(1)
