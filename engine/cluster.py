"""Training outside the lab: export a run's training stage for a cluster, import the adapter back.

``export_training(db, N, stage)`` runs the stage's own code up to its training call (so the
rows are exactly what the lab would train on; ``engine.paradigms.blocks.train_stage`` sees
``exporting_to()`` and writes the bundle instead of training) and leaves a folder with:

- ``train.jsonl`` / ``eval.jsonl``: TRL's prompt/completion rows (SFT; chat prompts in TRL's
  conversational form) or prompt/chosen/rejected rows (DPO);
- ``config.json``: the resolved training config (Distillab's student and training sections,
  and the TRL arguments they mean, from ``engine.student.train.trainer_arguments``);
- ``accelerate.yaml``: the recipe's ``training.accelerate_config``, or a one-node multi-GPU
  DDP config; ``launch.sh`` and ``train_trl.py`` (``engine/student/train_trl.py``), which
  train the same LoRA with TRL under ``accelerate launch`` and save ``output/adapter``.

``import_adapter(db, N, path)`` checks that a PEFT adapter folder was trained on the run's
student, copies it into the run's files, registers it as the stage's ``adapter`` artifact
and marks the stage completed, so ``distillab resume N`` evaluates it. docs/cluster.md.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from engine.errors import DistillabError
from engine.recipes import StudentSpec, TrainingSpec

_EXPORT_TO: ContextVar[Path | None] = ContextVar("distillab_export_training", default=None)
SCRIPT = Path(__file__).resolve().parent / "student" / "train_trl.py"
DEFAULT_ACCELERATE = """\
# One node, every GPU of it, plain DDP (accelerate's own format; `accelerate config`
# writes others: FSDP, DeepSpeed ZeRO). launch.sh sets --num_processes from $NUM_PROCESSES.
compute_environment: LOCAL_MACHINE
distributed_type: MULTI_GPU
num_machines: 1
num_processes: 1
machine_rank: 0
mixed_precision: bf16
gpu_ids: all
main_training_function: main
rdzv_backend: static
same_network: true
use_cpu: false
"""
LAUNCH_SH = """\
#!/usr/bin/env bash
# Run {what} outside Distillab: TRL + accelerate (docs/cluster.md).
# NUM_PROCESSES: processes (GPUs) on this node; OUT: where checkpoints and the adapter go.
# A re-run (e.g. a requeued Slurm job) resumes from the newest checkpoint in $OUT.
set -euo pipefail
cd "$(dirname "$0")"
OUT=${{OUT:-output}}
accelerate launch --config_file accelerate.yaml \\
    ${{NUM_PROCESSES:+--num_processes "$NUM_PROCESSES"}} \\
    train_trl.py --config config.json --out "$OUT"
echo "bring it back with: distillab import-adapter {run_id} $(pwd)/$OUT/adapter --stage {stage}"
"""


class TrainingExported(Exception):
    """Raised by ``train_stage`` in an export: the bundle is written, nothing trained."""

    def __init__(self, folder: Path) -> None:
        super().__init__(str(folder))
        self.folder = folder


def exporting_to() -> Path | None:
    """The folder a training export writes to, when one is under way in this context."""
    return _EXPORT_TO.get()


@contextmanager
def _exporting(folder: Path) -> Iterator[None]:
    token = _EXPORT_TO.set(folder)
    try:
        yield
    finally:
        _EXPORT_TO.reset(token)


def trl_rows(kind: str, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in TRL's dataset formats: prompt/completion (SFT) or prompt/chosen/rejected
    (DPO); a chat prompt gets its answers as assistant messages (TRL's conversational
    form). Per-row weights have no TRL equivalent and are dropped."""
    keys = ("chosen", "rejected") if kind == "dpo" else ("completion",)
    out = []
    for row in rows:
        prompt = row["prompt"]
        item: dict[str, Any] = {"prompt": prompt}
        for key in keys:
            text = row[key]
            item[key] = text if isinstance(prompt, str) else [{"role": "assistant",
                                                               "content": text}]
        out.append(item)
    return out


def write_training_bundle(folder: Path, *, kind: str, rows: Sequence[dict[str, Any]],
                          eval_rows: Sequence[dict[str, Any]], student: StudentSpec,
                          training: TrainingSpec, seed: int, beta: float, continuation: bool,
                          init_adapter: Path | None, accelerate_config: Path | None) -> None:
    """Write the bundle (see the module's docstring) and raise ``TrainingExported``."""
    from engine.student.launch import write_jsonl
    from engine.student.load import resolve_model
    from engine.student.train import trainer_arguments

    if not rows:
        raise DistillabError("the stage has no training rows to export",
                             "check that the earlier stages produced data")
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "train.jsonl", trl_rows(kind, rows))
    if eval_rows:
        write_jsonl(folder / "eval.jsonl", trl_rows(kind, eval_rows))
    if init_adapter is not None:
        shutil.copytree(init_adapter, folder / "init_adapter", dirs_exist_ok=True)
    weighted = sum(1 for r in rows if float(r.get("weight", 1.0)) != 1.0)
    config = {
        "kind": kind, "base_model": resolve_model(student.model),
        "quantization": student.quantization, "lora": student.lora.model_dump(mode="json"),
        "packing": training.packing, "beta": beta, "seed": seed,
        "train": "train.jsonl", "eval": "eval.jsonl" if eval_rows else None,
        "init_adapter": "init_adapter" if init_adapter is not None else None,
        "trl_args": trainer_arguments(training, student, "output", training.batch_size,
                                      training.grad_accum, seed, bool(eval_rows)),
        "distillab": {"student": student.model_dump(mode="json"),
                      "training": training.model_dump(mode="json"),
                      "continuation": continuation, "weighted_rows_dropped_weight": weighted},
    }
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    if accelerate_config is not None:
        if not accelerate_config.is_file():
            raise DistillabError(f"the accelerate config {accelerate_config} does not exist",
                                 "fix training.accelerate_config (relative to the recipe's "
                                 "folder), or remove it for a one-node DDP config")
        (folder / "accelerate.yaml").write_text(accelerate_config.read_text())
    else:
        (folder / "accelerate.yaml").write_text(DEFAULT_ACCELERATE)
    shutil.copyfile(SCRIPT, folder / "train_trl.py")
    raise TrainingExported(folder)


def export_training(db_path: str | Path, run_id: int, stage: str,
                    out: str | Path | None = None, log: Any = print) -> Path:
    """Write the training bundle of ``stage`` of run ``run_id``; returns its folder. Every
    stage before it must be completed (the rows come from them)."""
    from engine import events as ev
    from engine.paradigms import PARADIGMS
    from engine.stage import StageContext
    from engine.store import Store, runs
    from engine.validate import parse_recipe

    db_path = Path(db_path)
    with Store(db_path) as store:
        run = runs.get_run(store, run_id)
        rows = runs.stages(store, run_id)
        names = [r.name for r in rows]
        if stage not in names:
            raise DistillabError(f"run {run_id} ({run.paradigm}) has no stage {stage!r}",
                                 f"choose one of: {', '.join(names)}")
        before = [r for r in rows[:names.index(stage)] if r.status != "completed"]
        if before:
            raise DistillabError(
                f"stage {before[0].name} of run {run_id} is {before[0].status}: the training "
                "rows come from the stages before it",
                f"finish them first: `distillab resume {run_id}` (cancel it once {stage} "
                "starts), then export again")
        base_dir = Path(run.recipe_path).resolve().parent if run.recipe_path else None
        loaded = parse_recipe(run.recipe_yaml, run.recipe_path or f"run {run_id}", base_dir)
        folder = Path(out) if out else \
            db_path.resolve().parent / f"run-{run_id}-training-{stage}"
        spec = {s.name: s for s in PARADIGMS[run.paradigm].stages}[stage]

        def emit(event: ev.Event) -> None:
            if isinstance(event, ev.Log):
                log(event.message)

        ctx = StageContext(store=store, run_id=run_id, loaded=loaded, spec=spec,
                           dataset_id=run.dataset_id, emit=emit, cancelled=lambda: False)
        try:
            with _exporting(folder):
                spec.run(ctx)
        except TrainingExported:
            pass
        else:
            raise DistillabError(f"stage {stage} of run {run_id} did not train the student",
                                 "export a stage that trains (e.g. train, or dpo)")
        (folder / "launch.sh").write_text(LAUNCH_SH.format(
            what=f"stage {stage} of Distillab run {run_id}", run_id=run_id, stage=stage))
        (folder / "launch.sh").chmod(0o755)
        runs.add_artifact(store, run_id, "export-training", folder, {"stage": stage})
    return folder


def _model_names(name: str) -> set[str]:
    """Ways to write one model: as given, its resolved folder, and its last path part."""
    names = {name.rstrip("/")}
    path = Path(name).expanduser()
    if path.exists():
        names.add(str(path.resolve()))
    names.add(path.name)
    return names


def same_base(adapter_base: str, student_model: str) -> bool:
    """Whether an adapter's ``base_model_name_or_path`` names the student: equal, the same
    folder, or the same model name at another place (a cluster's copy of the hub model)."""
    from engine.student.load import resolve_model

    if not adapter_base.strip():
        return False
    want = resolve_model(student_model)
    return bool(_model_names(adapter_base) & (_model_names(want) | _model_names(student_model)))


def import_adapter(db_path: str | Path, run_id: int, adapter: str | Path,
                   stage: str | None = None) -> Path:
    """Bring a PEFT adapter folder back as ``stage``'s adapter of run ``run_id``
    (default: the run's stage named train, or the one an export was made of); returns
    where it now lives."""
    from engine.paths import run_dir
    from engine.store import Store, now, runs
    from engine.validate import parse_recipe

    source = Path(adapter).expanduser()
    config_file = source / "adapter_config.json"
    if not config_file.is_file():
        raise DistillabError(f"{source} is not a PEFT adapter folder (no adapter_config.json)",
                             "give the folder the training saved, e.g. output/adapter")
    if not any((source / f).is_file() for f in ("adapter_model.safetensors",
                                                 "adapter_model.bin")):
        raise DistillabError(f"{source} has no adapter weights (adapter_model.safetensors)",
                             "copy the whole adapter folder back from the cluster")
    base = str(json.loads(config_file.read_text()).get("base_model_name_or_path") or "")
    db_path = Path(db_path)
    with Store(db_path) as store:
        run = runs.get_run(store, run_id)
        rows = runs.stages(store, run_id)
        names = [r.name for r in rows]
        if stage is None:
            exported = [a for a in runs.artifacts(store, run_id)
                        if a["kind"] == "export-training"]
            stage = (exported[-1].get("meta") or {}).get("stage") if exported else \
                ("train" if "train" in names else None)
        if stage not in names:
            raise DistillabError(f"run {run_id} has no stage {stage!r}",
                                 f"name the training stage with --stage: {', '.join(names)}")
        base_dir = Path(run.recipe_path).resolve().parent if run.recipe_path else None
        student = parse_recipe(run.recipe_yaml, run.recipe_path or f"run {run_id}",
                               base_dir).recipe.student
        if not same_base(base, student.model):
            raise DistillabError(
                f"the adapter was trained on {base or 'an unnamed base model'}, but run "
                f"{run_id}'s student is {student.model}",
                "import an adapter trained on the run's student (see config.json "
                "base_model in the export), or start a run whose student is that model")
        later = [r.name for r in rows[names.index(stage) + 1:] if r.status == "completed"]
        if later:
            raise DistillabError(
                f"run {run_id} already finished {', '.join(later)} after {stage}: an "
                "imported adapter would not be evaluated",
                "export and import for a run that has not reached those stages yet")
        dest = run_dir(db_path, run_id) / stage / "adapter-imported"
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(source, dest)
        runs.add_artifact(store, run_id, "adapter", dest,
                          {"stage": stage, "imported_from": str(source.resolve()),
                           "base_model": base})
        runs.set_stage(store, run_id, stage, status="completed", finished_at=now(), error=None)
    return dest


__all__ = ["TrainingExported", "export_training", "exporting_to", "import_adapter",
           "same_base", "trl_rows", "write_training_bundle"]
