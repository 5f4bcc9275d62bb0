"""Scoring a trained model: classification metrics, prediction on image files, the serving export."""
