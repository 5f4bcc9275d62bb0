"""Where images come from: the built-in sample, a local folder or archive, Kaggle; and the layout of what arrived."""
