"""Writing TFRecord shards without TensorFlow: image resizing, the split, the record format, the writers."""
