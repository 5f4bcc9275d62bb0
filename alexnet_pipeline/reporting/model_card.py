"""A blessed version's model card (Mitchell et al. 2019), written from the stages' contracts when
the gate blesses it: intended use, data version and class counts, metrics with intervals,
per-class recall, training recipe, precision and hardware, drift and leakage, the gate's
decision and known limits. Kept in the blessed store as JSON and Markdown, so each version's
card travels with it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alexnet_pipeline.evaluation.paired_comparison import proportion_interval

RECIPE_KEYS = ("recipe", "epochs", "batch_size", "optimizer", "learning_rate", "momentum", "weight_decay",
               "label_smoothing", "warmup_epochs", "flip", "lighting_std", "mixed_precision")


def _intended_use(classes: list[str], source: str, image_size: int, resize: str) -> str:
    demo = (" It was trained on the built-in synthetic textures: a demonstration of the pipeline, not a model "
            "for real photos." if source == "sample" else "")
    return (f"Classifies one RGB image (any size; resized by preprocess.resize `{resize}` to {image_size} px) into "
            f"one of {len(classes)} classes: {', '.join(classes)}, returning each class's probability. It is meant "
            "for images like its training data; it is not meant for images of anything else (it always answers one "
            f"of its classes), nor for decisions about people.{demo}")


def _metrics(metrics: Mapping[str, Any], confidence: float) -> dict[str, Any]:
    images = int(metrics["num_examples"])
    per_class = {}
    for name, row in metrics["per_class"].items():
        support = int(row["support"])
        per_class[name] = {"recall": float(row["recall"]),
                           "recall_interval": proportion_interval(round(float(row["recall"]) * support), support,
                                                                  confidence),
                           "precision": float(row["precision"]), "support": support}
    return {"accuracy": float(metrics["accuracy"]),
            "accuracy_interval": proportion_interval(round(float(metrics["accuracy"]) * images), images, confidence),
            "confidence": confidence, "loss": float(metrics["loss"]), "top5_accuracy": metrics.get("top5_accuracy"),
            "macro_f1": float(metrics["macro_f1"]), "images": images, "per_class": per_class}


def _limits(card: dict[str, Any]) -> list[str]:
    """Known limits read off the card's own figures."""
    metrics, counts = card["metrics"], card["data"]["counts"]
    low, high = metrics["accuracy_interval"]
    weakest = min(metrics["per_class"].items(), key=lambda item: item[1]["recall"])
    train = counts.get("train", {})
    limits = [(f"Its test figures come from {metrics['images']} images: the accuracy is known only to within "
              f"{low:.3f} to {high:.3f} ({metrics['confidence']:.0%} interval); a smaller difference between two "
              "models on this split can be chance."),
              (f"Its weakest class is {weakest[0]}: recall {weakest[1]['recall']:.3f} "
              f"({weakest[1]['recall_interval'][0]:.3f} to {weakest[1]['recall_interval'][1]:.3f}).")]
    if train:
        fewest = min(train.items(), key=lambda item: item[1])
        limits.append(f"Its rarest training class is {fewest[0]} ({fewest[1]} train images of "
                      f"{sum(train.values())}).")
    if card["findings"]["drift"]:
        limits.append("Its data drifted from the previous blessed version's: " + "; ".join(card["findings"]["drift"]) + ".")
    limits.append("It was only measured on this dataset's test split: other cameras, lighting or subjects may do worse.")
    return limits


def build_card(version: Mapping[str, Any], blessed_at: str, *, source: Mapping[str, Any],
               counts: Mapping[str, Mapping[str, int]], metrics: Mapping[str, Any],
               summary: Mapping[str, Any] | None, model_params: Mapping[str, Any], train_params: Mapping[str, Any],
               image_size: int, resize: str, drift: Mapping[str, Any], validation_leakage: int,
               decision: Mapping[str, Any], confidence: float) -> dict[str, Any]:
    """The card's content (the ModelCard contract) from the blessed version, this run's data
    counts by split and class, test metrics, train summary, params, drift report and gate decision."""
    card: dict[str, Any] = {
        "version": version["version"], "blessed_at": blessed_at,
        "intended_use": _intended_use(list(version["classes"]), str(source["source"]), image_size, resize),
        "data": {**source, "data_fingerprint": version.get("data_fingerprint"), "images": version["images"],
                 "counts": {split: dict(by_class) for split, by_class in counts.items()}},
        "metrics": _metrics(metrics, confidence),
        "training": {"model": dict(model_params), "recipe": {key: train_params[key] for key in RECIPE_KEYS},
                     "epochs_run": summary["epochs_run"] if summary else None,
                     "scored_epoch": metrics["model"]["epoch"], "scored_model": metrics["model"]["choice"],
                     "precision": summary["precision"] if summary else None,
                     "devices": summary["devices"] if summary else None,
                     "wall_time_s": summary["wall_time_s"] if summary else None},
        "findings": {"drift": list(drift["findings"]),
                     "leakage_across_versions": (drift.get("leakage") or {}).get("count", 0),
                     "leakage_within": validation_leakage},
        "gate": {"message": decision["message"], "comparison": decision.get("comparison")},
    }
    card["limits"] = _limits(card)
    return card


def _interval(pair: list[float]) -> str:
    return f"{pair[0]:.3f} to {pair[1]:.3f}"


def card_markdown(card: Mapping[str, Any]) -> str:
    """The card as Markdown: `paths.model_card`, and the copy in the blessed store."""
    data, metrics, training, findings = card["data"], card["metrics"], card["training"], card["findings"]
    splits = list(data["counts"])
    classes = list(card["metrics"]["per_class"])
    where = next((f"{key} `{data[key]}`" for key in ("dataset", "path") if data.get(key)), "")
    lines = [f"# Model card: alexnet {card['version']}", "",
             f"Blessed {card['blessed_at']}: {card['gate']['message']}.", "",
             "## Intended use", "", card["intended_use"], "",
             "## Data", "",
             (f"Source `{data['source']}`{' ' + where if where else ''}; data version "
             f"`{(data['data_fingerprint'] or 'unknown')[:16]}` ({data['images']} images)."), "",
             "| class | " + " | ".join(splits) + " |", "|---" * (len(splits) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(str(data["counts"][split].get(name, 0)) for split in splits) + " |"
              for name in classes]
    level = f"{metrics['confidence']:.0%}"
    top5 = f"{metrics['top5_accuracy']:.4f}" if metrics["top5_accuracy"] is not None else "n/a (under 6 classes)"
    lines += ["", f"## Metrics (test split, {metrics['images']} images; intervals at {level})", "",
              f"- accuracy **{metrics['accuracy']:.4f}** ({_interval(metrics['accuracy_interval'])})",
              f"- loss {metrics['loss']:.4f}; top-5 accuracy {top5}; macro F1 {metrics['macro_f1']:.4f}", "",
              f"| class | recall | {level} interval | precision | test images |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {row['recall']:.3f} | {_interval(row['recall_interval'])} | {row['precision']:.3f} | "
              f"{row['support']} |" for name, row in metrics["per_class"].items()]
    recipe = ", ".join(f"{key} {value}" for key, value in training["recipe"].items())
    model = ", ".join(f"{key} {value}" for key, value in training["model"].items())
    lines += ["", "## Training", "", f"- model: {model}", f"- recipe: {recipe}",
              (f"- epochs run {training['epochs_run']}; scored: the {training['scored_model']} epoch "
              f"({training['scored_epoch']})"),
              (f"- precision {training['precision']} on {', '.join(training['devices'])}; training took "
               f"{training['wall_time_s']:.0f} s" if training["precision"] else
               "- precision and devices: not recorded (no train summary)"), "",
              "## Drift and leakage", ""]
    lines += [f"- drift: {finding}" for finding in findings["drift"]] or ["- no drift against the previous blessed data"]
    lines += [(f"- {findings['leakage_across_versions']} train images identical to the previous blessed data's "
              "test images; " f"{findings['leakage_within']} leaked across this dataset's splits"), "",
              "## Gate decision", "", card["gate"]["message"] + "."]
    comparison = card["gate"]["comparison"]
    if comparison:
        lines.append(f"Against the model it replaced, on the same {comparison['images']} test images: "
                     f"{comparison['difference']:+.4f} ({comparison['confidence']:.0%} interval "
                     f"{comparison['interval'][0]:+.4f} to {comparison['interval'][1]:+.4f}), McNemar p = "
                     f"{comparison['p_value']:.3g}.")
    lines += ["", "## Known limits", "", *[f"- {limit}" for limit in card["limits"]], ""]
    return "\n".join(lines)


NO_CARD = "# Model card\n\nNo model has been blessed yet, so there is no model card: see the gate's decision.\n"
