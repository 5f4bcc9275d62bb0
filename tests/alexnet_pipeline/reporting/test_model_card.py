"""model_card: a blessed version's card built from the contracts (intervals from the counts,
limits read off the figures) and rendered as Markdown."""

from __future__ import annotations

from typing import Any

from alexnet_pipeline.core.contracts import ModelCard
from alexnet_pipeline.evaluation.paired_comparison import proportion_interval
from alexnet_pipeline.reporting.model_card import build_card, card_markdown

VERSION = {"version": "v2.0.0", "number": 2, "weights_sha256": "ab" * 32, "classes": ["cat", "dog"],
           "image_size": 227, "accuracy": 0.9, "loss": 0.3, "images": 120, "data_fingerprint": "f0" * 32}
METRICS = {"accuracy": 0.9, "loss": 0.3, "top5_accuracy": None, "macro_f1": 0.899, "num_examples": 40,
           "per_class": {"cat": {"precision": 0.85, "recall": 0.95, "f1": 0.9, "support": 20},
                         "dog": {"precision": 0.94, "recall": 0.85, "f1": 0.89, "support": 20}},
           "model": {"choice": "best", "path": "models/alexnet.best.keras", "epoch": 8, "epochs_run": 10,
                     "best_epoch": 8, "best_loss": 0.2}}
SUMMARY = {"epochs_run": 10, "precision": "float32", "devices": ["/CPU:0"], "wall_time_s": 347.5}
TRAIN = {"recipe": "custom", "epochs": 10, "batch_size": 16, "optimizer": "adam", "learning_rate": 0.0001,
         "momentum": 0.9, "weight_decay": 0.0, "label_smoothing": 0.0, "warmup_epochs": 0, "flip": True,
         "lighting_std": 0.1, "mixed_precision": "auto", "deterministic": True}
COMPARISON = {"images": 40, "difference": 0.05, "interval": [-0.025, 0.125], "confidence": 0.95, "resamples": 10000,
              "candidate_only": 3, "blessed_only": 1, "test": "McNemar exact", "p_value": 0.625}


def sample_card(**changes: Any) -> dict[str, Any]:
    """A card as the gate builds it for a two-class blessed v2.0.0."""
    arguments = {"source": {"source": "kaggle", "dataset": "tongpython/cat-and-dog"},
                 "counts": {"train": {"cat": 35, "dog": 25}, "val": {"cat": 10, "dog": 10},
                            "test": {"cat": 20, "dog": 20}},
                 "metrics": METRICS, "summary": SUMMARY, "model_params": {"variant": "bn", "dropout": 0.5},
                 "train_params": TRAIN, "image_size": 227, "resize": "paper",
                 "drift": {"findings": ["brightness shifted"], "leakage": {"count": 2}}, "validation_leakage": 0,
                 "decision": {"message": "promoted as v2.0.0, replacing v1.0.0", "comparison": COMPARISON},
                 "confidence": 0.95, **changes}
    return build_card(VERSION, "2026-12-05T09:30:00+00:00", **arguments)


def test_the_card_takes_its_figures_from_the_contracts_with_intervals() -> None:
    card = sample_card()
    ModelCard.model_validate(card)
    assert card["version"] == "v2.0.0" and card["blessed_at"] == "2026-12-05T09:30:00+00:00"
    assert card["data"] == {"source": "kaggle", "dataset": "tongpython/cat-and-dog", "data_fingerprint": "f0" * 32,
                            "images": 120, "counts": {"train": {"cat": 35, "dog": 25}, "val": {"cat": 10, "dog": 10},
                                                      "test": {"cat": 20, "dog": 20}}}
    metrics = card["metrics"]
    assert metrics["accuracy_interval"] == proportion_interval(36, 40, 0.95)
    assert metrics["per_class"]["dog"] == {"recall": 0.85, "recall_interval": proportion_interval(17, 20, 0.95),
                                           "precision": 0.94, "support": 20}
    assert card["training"]["recipe"]["learning_rate"] == 0.0001 and "deterministic" not in card["training"]["recipe"]
    assert (card["training"]["scored_epoch"], card["training"]["precision"]) == (8, "float32")
    assert card["findings"] == {"drift": ["brightness shifted"], "leakage_across_versions": 2, "leakage_within": 0}
    assert card["gate"]["comparison"] == COMPARISON
    low, high = metrics["accuracy_interval"]
    assert card["limits"] == [
        (f"Its test figures come from 40 images: the accuracy is known only to within {low:.3f} to {high:.3f} "
         "(95% interval); a smaller difference between two models on this split can be chance."),
        (f"Its weakest class is dog: recall 0.850 ({metrics['per_class']['dog']['recall_interval'][0]:.3f} to "
         f"{metrics['per_class']['dog']['recall_interval'][1]:.3f})."),
        "Its rarest training class is dog (25 train images of 60).",
        "Its data drifted from the previous blessed version's: brightness shifted.",
        "It was only measured on this dataset's test split: other cameras, lighting or subjects may do worse."]
    assert "not a model for real photos" not in card["intended_use"]
    assert "not a model for real photos" in sample_card(source={"source": "sample"})["intended_use"]


def test_the_markdown_has_every_section_and_the_per_class_table() -> None:
    markdown = card_markdown(sample_card())
    headings = [line for line in markdown.splitlines() if line.startswith("#")]
    assert headings == ["# Model card: alexnet v2.0.0", "## Intended use", "## Data",
                        "## Metrics (test split, 40 images; intervals at 95%)", "## Training", "## Drift and leakage",
                        "## Gate decision", "## Known limits"]
    lines = markdown.splitlines()
    assert "Source `kaggle` dataset `tongpython/cat-and-dog`; data version `f0f0f0f0f0f0f0f0` (120 images)." in lines
    assert "| cat | 35 | 10 | 20 |" in lines and "| dog | 25 | 10 | 20 |" in lines
    low, high = proportion_interval(17, 20, 0.95)
    assert f"| dog | 0.850 | {low:.3f} to {high:.3f} | 0.940 | 20 |" in lines
    assert "- loss 0.3000; top-5 accuracy n/a (under 6 classes); macro F1 0.8990" in lines
    assert ("Against the model it replaced, on the same 40 test images: +0.0500 (95% interval -0.0250 to +0.1250), "
            "McNemar p = 0.625.") in lines
    assert "- drift: brightness shifted" in lines
    first = card_markdown(sample_card(decision={"message": "promoted as v1.0.0", "comparison": None},
                                      drift={"findings": [], "leakage": None}, summary=None))
    assert "Against the model it replaced" not in first and "- no drift against the previous blessed data" in first
    assert "- precision and devices: not recorded (no train summary)" in first.splitlines()
    assert "- precision float32 on /CPU:0; training took 348 s" in lines
