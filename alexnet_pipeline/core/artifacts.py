"""Names of the files inside the stages' output folders (the folders are in params.yaml `paths`)."""

LAYOUT_FILE = "layout.json"  # in paths.raw: source and per-split class counts
MANIFEST_FILE = "manifest.csv"  # in paths.validated: the usable images
CLASSES_FILE = "classes.json"  # in paths.processed: class names by class id
STATS_FILE = "stats.json"  # in paths.processed: per-channel mean/std and RGB eigens of train
SHARDS_FILE = "shards.json"  # in paths.processed: how shards store images (encoding, stored size)
SPLITS_FILE = "splits.json"  # in paths.processed: image counts per split and class
SPLIT_TABLE_FILE = "split_table.csv"  # in paths.processed: every image's path, split and label
CONFUSION_FILE = "confusion.csv"  # in paths.eval_plots: actual,predicted per test image
PREDICTIONS_FILE = "predictions.csv"  # in paths.eval_plots: every test image's prediction
MISCLASSIFIED_FILE = "misclassified.csv"  # in paths.eval_plots: wrong test predictions, surest first
ROC_FILE = "roc.csv"  # in paths.eval_plots, two classes only: fpr,tpr,threshold
PR_FILE = "pr.csv"  # in paths.eval_plots, two classes only: recall,precision,threshold
TRAIN_SUMMARY_FILE = "summary.json"  # in paths.train_logs: epochs, best epoch, time, img/s, devices
MODEL_SUMMARY_FILE = "model.json"  # in paths.train_logs: the layers and parameter counts
