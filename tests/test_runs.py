"""Tests for fervlm.runs (profiles, sweep planning, papermill execution, run folders, aggregation) and the
`fervlm sweep` command. Fixture notebooks are built with nbformat inside tmp_path; only 3 notebook
executions in total (each starts a kernel, ~2–4 s)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from fervlm.cli import main as cli_main
from fervlm.runs import (
    KNOWN_METHODS,
    Profile,
    aggregate_results,
    git_hash,
    is_finished,
    load_profile,
    own_parameters,
    plan_sweep,
    resolve_kernel,
    sweep,
    sweep_parameters,
    write_run_info,
)


def _notebook(path: Path, parameters: str, body: str) -> Path:
    """A notebook with a `parameters`-tagged cell and one body cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(body),
    ]
    nbformat.write(nb, path)
    return path


WRITE_METRICS = """
import json, pathlib
out = pathlib.Path(output_dir)
out.mkdir(parents=True, exist_ok=True)
print("seed is", seed)
(out / "metrics.json").write_text(json.dumps({"accuracy": 0.25 + seed, "data_kind": "synthetic"}))
"""


@pytest.fixture()
def workspace(tmp_path: Path) -> tuple[Path, Path]:
    """Three fixture notebooks and a profile YAML pointing at them; returns (profile file, outputs root)."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(
        nbs / "01_plain.ipynb",
        'output_dir: str = "out"  # where to write\nprofile: str = "quick"  # profile\nseed: int = 0',
        WRITE_METRICS,
    )
    _notebook(
        nbs / "02_train.ipynb",
        'output_dir: str = "out"\nprofile: str = "quick"\ndataset: str = "x"\nmethod: str = "affectvlm"\n'
        'dataset_root: str = ""\nepochs: int = 1\nrun_folds: object = "all"\nunrelated: int = 3',
        "print(dataset, method, run_folds)",
    )
    _notebook(
        nbs / "03_fail.ipynb",
        'output_dir: str = "out"\nprofile: str = "quick"',
        'raise RuntimeError("deliberate failure in 03")',
    )
    profile = {
        "name": "mini",
        "notebooks_dir": str(nbs),
        "datasets": ["synthetic_a", "real_b"],
        "dataset_roots": {"synthetic_a": "data/a", "real_b": "data/b", "other": "data/o"},
        "methods": ["affectvlm", "zeroshot"],
        "epochs": 7,
        "seed": 2,
        "k_folds": 5,
        "run_folds": [0, 1],
    }
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(profile), encoding="utf-8")
    return path, tmp_path / "outputs"


# ---------------------------------------------------------------------------------------------
# Profiles


@pytest.mark.parametrize("name", ["quick", "paper"])
def test_shipped_profiles_load_and_validate(name: str) -> None:
    prof = load_profile(name)
    assert prof.name == name
    assert prof.k_folds == 10
    assert set(prof.methods) == set(KNOWN_METHODS) - {"ceiling"}  # the ceiling is a diagnostic, run by hand
    assert all(d in prof.dataset_roots for d in prof.datasets)
    assert set(prof.prompt_sources) == {"label", "pseudo"}


def test_shipped_profiles_differ_where_they_should() -> None:
    quick, paper = load_profile("quick"), load_profile("paper")
    assert quick.datasets == ["synthetic_bu3dfe"]
    assert quick.dataset_roots["synthetic_bu3dfe"] == "data/synthetic/bu3dfe"
    assert (quick.backbone, quick.weights, quick.accelerator) == ("fervlm-tiny-rn", "facs", "cpu")
    assert paper.backbone == "ViT-B-16" and paper.weights == "openai" and paper.run_folds == "all"
    assert set(paper.datasets) == {"bu3dfe_I", "bu3dfe_II", "bosphorus", "bu4dfe", "bp4d", "4dme"}


def test_unknown_key_is_an_error_naming_key_file_and_valid_keys(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nepochs: 3\nepoch_count: 4\n", encoding="utf-8")
    with pytest.raises(ValueError, match="epoch_count") as info:
        load_profile(path)
    assert str(path) in str(info.value) and "batch_size" in str(info.value)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("epochs: two\n", "epochs"),
        ("lr: true\n", "lr"),
        ("methods: [affectvlm, clip]\n", "clip"),
        ("datasets: [nowhere]\n", "nowhere"),
        ("run_folds: [0, 12]\n", "run_folds"),
        ("run_folds: some\n", "run_folds"),
        ("- a list\n", "flat mapping"),
    ],
)
def test_bad_values_are_errors_naming_the_key(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        load_profile(path)


def test_defaults_and_name_from_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("lr: 1\n", encoding="utf-8")  # an int is a valid float
    prof = load_profile(path)
    assert prof.name == "mine" and prof.lr == 1 and prof.k_folds == Profile(name="x").k_folds
    with pytest.raises(ValueError, match="quick"):
        load_profile("no_such_profile")


# ---------------------------------------------------------------------------------------------
# Planning


def test_plan_expands_only_declared_dimensions(workspace: tuple[Path, Path]) -> None:
    profile_file, root = workspace
    items = plan_sweep(profile_file, root=root)
    labels = [(it.notebook, it.dataset, it.method) for it in items]
    assert labels == [
        ("01_plain", None, None),
        ("02_train", "synthetic_a", "affectvlm"),
        ("02_train", "synthetic_a", "zeroshot"),
        ("02_train", "real_b", "affectvlm"),
        ("02_train", "real_b", "zeroshot"),
        ("03_fail", None, None),
    ]
    plain, train = items[0], items[3]
    # Only declared parameters are passed, with the profile's values.
    assert plain.parameters == {
        "output_dir": str(root.absolute() / "mini/01_plain"),
        "profile": "mini",
        "seed": 2,
    }
    assert train.output_dir == root.absolute() / "mini/02_train/real_b/affectvlm"
    assert train.parameters == {
        "output_dir": str(train.output_dir),
        "profile": "mini",
        "dataset": "real_b",
        "method": "affectvlm",
        "dataset_root": "data/b",
        "epochs": 7,
        "run_folds": [0, 1],
    }


def test_plan_filters_and_overrides(workspace: tuple[Path, Path]) -> None:
    profile_file, root = workspace
    items = plan_sweep(
        profile_file, notebooks=["02"], datasets=["other"], methods=["smilevlm"], folds=[3], root=root
    )
    assert [(it.notebook, it.dataset, it.method) for it in items] == [("02_train", "other", "smilevlm")]
    assert items[0].parameters["run_folds"] == [3] and items[0].parameters["dataset_root"] == "data/o"
    with pytest.raises(ValueError, match="09_nothing"):
        plan_sweep(profile_file, notebooks=["09_nothing"], root=root)
    with pytest.raises(ValueError, match="unlisted"):
        plan_sweep(profile_file, datasets=["unlisted"], root=root)
    with pytest.raises(ValueError, match="folds"):
        plan_sweep(profile_file, folds=[5], root=root)  # k_folds = 5


def test_notebook_without_output_dir_is_rejected(tmp_path: Path) -> None:
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "01_x.ipynb", "seed: int = 0", "pass")
    prof = Profile(name="p", notebooks_dir=str(nbs))
    with pytest.raises(ValueError, match="output_dir"):
        plan_sweep(prof, root=tmp_path / "o")


def test_own_parameters_are_never_set_nor_expanded(tmp_path: Path) -> None:
    """A notebook's own `method`/`methods`/`epochs` keep their natural names and their defaults."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    path = _notebook(
        nbs / "01_own.ipynb",
        'output_dir: str = "out"\nprofile: str = "quick"\nmethod: str = "smilevlm"\nmethods: list = []\n'
        "epochs: int = 3\nseed: int = 0",
        "pass",
    )
    prof = Profile(name="p", notebooks_dir=str(nbs), methods=["affectvlm", "zeroshot"], epochs=7, seed=4)
    plain = plan_sweep(prof, root=tmp_path / "o")  # without the metadata: one item per method, all set
    assert [it.method for it in plain] == ["affectvlm", "zeroshot"]
    assert plain[0].parameters["epochs"] == 7 and plain[0].parameters["methods"] == ["affectvlm", "zeroshot"]
    nb = nbformat.read(path, as_version=4)
    nb.metadata["fervlm"] = {"own_parameters": ["method", "methods", "epochs"]}
    nbformat.write(nb, path)
    assert own_parameters(path) == ["method", "methods", "epochs"]
    assert sweep_parameters(path) == ["output_dir", "profile", "seed"]
    (item,) = plan_sweep(prof, root=tmp_path / "o")
    assert item.method is None and item.output_dir == tmp_path / "o" / "p" / "01_own"
    assert item.parameters == {"output_dir": str(item.output_dir), "profile": "p", "seed": 4}
    for bad, match in (
        (["nope"], "not declared"),
        (["output_dir"], "always sets"),
        ("method", "list of parameter names"),
    ):
        nb.metadata["fervlm"] = {"own_parameters": bad}
        nbformat.write(nb, path)
        with pytest.raises(ValueError, match=match):
            plan_sweep(prof, root=tmp_path / "o")


def test_dry_run_prints_the_plan(workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    profile_file, root = workspace
    rc = cli_main(["sweep", "--profile", str(profile_file), "--dry-run", "--output-root", str(root)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "02_train" in out and "real_b" in out and "zeroshot" in out and "6 items, 6 to run" in out
    assert not root.exists()  # nothing executed, nothing written


# ---------------------------------------------------------------------------------------------
# Execution (3 papermill runs in total)


def test_sweep_runs_skips_forces_and_reports_failures(
    workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    profile_file, root = workspace
    argv = ["sweep", "--profile", str(profile_file), "--notebooks", "01", "03", "--output-root", str(root)]
    rc = cli_main(argv)  # runs 01 (succeeds) and 03 (raises): 2 executions
    out = capsys.readouterr().out
    assert rc == 1  # something failed
    assert "1 done, 0 skipped, 1 failed" in out and "deliberate failure in 03" in out

    done = root / "mini" / "01_plain"
    assert is_finished(done)
    assert json.loads((done / "metrics.json").read_text()) == {"accuracy": 2.25, "data_kind": "synthetic"}
    assert (done / "01_plain.ipynb").is_file() and not (done / "01_plain.partial.ipynb").exists()
    executed = nbformat.read(done / "01_plain.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "seed = 2" in injected[0].source
    assert yaml.safe_load((done / "config.yaml").read_text()) == {
        "output_dir": str(done),
        "profile": "mini",
        "seed": 2,
    }
    command = (done / "command.txt").read_text()
    assert "git:" in command and "host:" in command and "date:" in command
    assert "seed is 2" in (done / "log.txt").read_text()
    status = json.loads((done / "status.json").read_text())
    assert status["status"] == "done" and status["error"] == ""

    failed = root / "mini" / "03_fail"
    status = json.loads((failed / "status.json").read_text())
    assert status["status"] == "failed" and "RuntimeError: deliberate failure in 03" in status["error"]
    assert Path(status["notebook"]) == failed / "03_fail.partial.ipynb" and Path(status["notebook"]).is_file()
    assert "deliberate failure in 03" in (failed / "log.txt").read_text()
    assert not is_finished(failed)

    results = pd.read_csv(root / "mini" / "results.csv")
    assert results[["notebook", "fold", "data_kind", "accuracy"]].values.tolist() == [
        ["01_plain", "summary", "synthetic", 2.25]
    ]

    # Re-run: the finished item is skipped (no execution).
    (done / "metrics.json").write_text(json.dumps({"accuracy": -1.0}))
    table = sweep(profile_file, notebooks=["01"], root=root, verbose=False)
    assert table["status"].tolist() == ["skipped"]
    assert json.loads((done / "metrics.json").read_text()) == {"accuracy": -1.0}

    # --force re-runs it (3rd execution) and rewrites its outputs.
    rc = cli_main(
        [
            "sweep",
            "--profile",
            str(profile_file),
            "--notebooks",
            "01_plain",
            "--force",
            "--output-root",
            str(root),
        ]
    )
    assert rc == 0
    assert json.loads((done / "metrics.json").read_text())["accuracy"] == 2.25


def test_finished_item_with_other_parameters_is_not_skipped_silently(
    workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    profile_file, root = workspace
    argv = ["sweep", "--profile", str(profile_file), "--notebooks", "01", "--output-root", str(root)]
    assert cli_main(argv) == 0
    done = root / "mini" / "01_plain"
    stamp = (done / "metrics.json").stat().st_mtime_ns
    # More folds only extend an item: not a change of parameters.
    assert cli_main([*argv, "--folds", "0"]) == 0 and "1 skipped" in capsys.readouterr().out
    profile = yaml.safe_load(profile_file.read_text())
    profile_file.write_text(yaml.safe_dump({**profile, "seed": 3}), encoding="utf-8")
    assert cli_main(argv) == 1
    out = capsys.readouterr().out
    assert f"{done}: finished with other parameters (seed 2 -> 3); --force runs it again" in out
    assert (done / "metrics.json").stat().st_mtime_ns == stamp and is_finished(done)
    (done / "stale.txt").write_text("from the old parameters")
    assert cli_main([*argv, "--force"]) == 0
    assert json.loads((done / "metrics.json").read_text())["accuracy"] == 3.25
    assert not (done / "stale.txt").exists()


# ---------------------------------------------------------------------------------------------
# Kernel


def test_default_kernel_runs_this_interpreter() -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    name = resolve_kernel()
    argv0 = KernelSpecManager().get_kernel_spec(name).argv[0]
    assert argv0 in {"python", "python3"} or Path(argv0).resolve() == Path(sys.executable).resolve()
    with pytest.raises(ValueError, match="no such Jupyter kernel"):
        resolve_kernel("no-such-kernel-xyz")


def test_kernel_spec_is_derived_when_python3_points_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    foreign = tmp_path / "jp" / "kernels" / "python3"
    foreign.mkdir(parents=True)
    (foreign / "kernel.json").write_text(
        json.dumps(
            {
                "argv": ["/nonexistent/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (elsewhere)",
                "language": "python",
            }
        )
    )
    prefix = tmp_path / "prefix"
    monkeypatch.setenv("JUPYTER_PATH", f"{tmp_path / 'jp'}:{prefix / 'share' / 'jupyter'}")
    name = resolve_kernel(install_prefix=prefix)
    assert name.startswith("fervlm-")
    assert (prefix / "share" / "jupyter" / "kernels" / name / "kernel.json").is_file()
    assert KernelSpecManager().get_kernel_spec(name).argv[0] == sys.executable
    assert resolve_kernel(install_prefix=prefix) == name  # found again, not re-derived


# ---------------------------------------------------------------------------------------------
# Run info and aggregation


def test_write_run_info_and_git_hash(tmp_path: Path) -> None:
    run = write_run_info(
        tmp_path / "r", {"epochs": 3, "views": [-30, 0, 30]}, ["fervlm", "sweep", "--profile", "x y"]
    )
    assert yaml.safe_load((run / "config.yaml").read_text()) == {"epochs": 3, "views": [-30, 0, 30]}
    command = (run / "command.txt").read_text()
    assert "command: fervlm sweep --profile 'x y'" in command
    assert f"git: {git_hash()}" in command
    assert git_hash(tmp_path) == "unknown"  # not a repository


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_aggregate_hand_made_run_folders(tmp_path: Path) -> None:
    prof = tmp_path / "outputs" / "quick"
    item = prof / "03_train" / "synthetic_bu3dfe" / "affectvlm"
    _write(
        item / "fold-00" / "metrics.json",
        {
            "accuracy": 0.5,
            "macro_f1": 0.4,
            "data_kind": "synthetic",
            "per_class_f1": [0.1, 0.2],
            "confusion": [[1, 0], [0, 1]],
        },
    )
    _write(item / "fold-01" / "metrics.json", {"accuracy": 0.7, "macro_f1": 0.6, "data_kind": "synthetic"})
    _write(item / "summary.json", {"accuracy_mean": 0.6, "accuracy_std": 0.1, "n_folds": 2})
    # A method-only notebook (path has one level) and a dataset-only one whose config.yaml names it.
    _write(prof / "05_zeroshot" / "zeroshot" / "metrics.json", {"accuracy": 0.2, "extra": {"top5": 0.9}})
    ds_item = prof / "04_clusters" / "bu4dfe"
    _write(ds_item / "metrics.json", {"nmi": 0.33, "ari": None, "data_kind": "real"})
    (ds_item / "config.yaml").write_text(yaml.safe_dump({"dataset": "bu4dfe", "output_dir": str(ds_item)}))
    (prof / "04_clusters" / "bu4dfe" / "broken").mkdir()
    (prof / "04_clusters" / "bu4dfe" / "broken" / "metrics.json").write_text("{not json")  # skipped
    _write(prof / "03_train" / ".hidden" / "metrics.json", {"accuracy": 9.0})  # temp/hidden folders skipped

    table = aggregate_results(prof)
    on_disk = pd.read_csv(prof / "results.csv", keep_default_na=False, na_values=[""])
    assert list(on_disk.columns) == list(table.columns)
    assert list(table.columns[:7]) == [
        "profile",
        "notebook",
        "dataset",
        "method",
        "variant",
        "fold",
        "data_kind",
    ]
    rows = table[["notebook", "dataset", "method", "fold", "data_kind"]].values.tolist()
    assert rows == [
        ["03_train", "synthetic_bu3dfe", "affectvlm", "0", "synthetic"],
        ["03_train", "synthetic_bu3dfe", "affectvlm", "1", "synthetic"],
        ["03_train", "synthetic_bu3dfe", "affectvlm", "summary", ""],
        ["04_clusters", "bu4dfe", "", "summary", "real"],
        ["05_zeroshot", "", "zeroshot", "summary", ""],
    ]
    assert (table["profile"] == "quick").all()
    assert table["accuracy"].tolist()[:2] == [0.5, 0.7] and math.isnan(table["accuracy"][2])
    assert table.loc[2, ["accuracy_mean", "accuracy_std", "n_folds"]].tolist() == [0.6, 0.1, 2]
    assert table.loc[3, "nmi"] == 0.33 and math.isnan(table.loc[3, "ari"])
    assert table.loc[4, "extra.top5"] == 0.9
    assert "per_class_f1" not in table.columns and "confusion" not in table.columns
    assert on_disk["macro_f1"].tolist()[:2] == [0.4, 0.6]
    assert on_disk["fold"].astype(str).tolist() == ["0", "1", "summary", "summary", "summary"]


def test_aggregate_names_variants_from_sub_folders(tmp_path: Path) -> None:
    # A notebook item running two prompt sources keeps each in a sub-folder of its run folder.
    prof = tmp_path / "outputs" / "quick"
    item = prof / "03_multiviewvlm" / "synthetic_bu3dfe"
    item.mkdir(parents=True)
    (item / "config.yaml").write_text(yaml.safe_dump({"dataset": "synthetic_bu3dfe"}))
    _write(item / "label" / "fold-00" / "metrics.json", {"accuracy": 0.4, "method": "multiviewvlm"})
    _write(item / "pseudo" / "fold-00" / "metrics.json", {"accuracy": 0.3, "method": "multiviewvlm"})
    _write(item / "pseudo" / "summary.json", {"accuracy_mean": 0.3, "variant": "pseudo prompts"})
    table = aggregate_results(prof)
    rows = table[["dataset", "method", "variant", "fold", "accuracy"]].fillna("").values.tolist()
    assert rows == [  # sorted by notebook, dataset, method, variant, fold
        ["synthetic_bu3dfe", "", "pseudo prompts", "summary", ""],
        ["synthetic_bu3dfe", "multiviewvlm", "label", "0", 0.4],
        ["synthetic_bu3dfe", "multiviewvlm", "pseudo", "0", 0.3],
    ]
