"""Building and training AlexNet: the model, augmentation, recipes, precision, resumable and distributed loops."""
