"""Reading shards with TensorFlow: the record schema and the training/evaluation input pipelines."""
