"""Export a trained model for serving: a TensorFlow SavedModel whose `serving_default` signature
takes encoded image bytes (JPEG, PNG, GIF or BMP) and returns class probabilities and the top
classes by name, so a server (TF Serving, Vertex AI, a Python client) needs nothing else.

In the graph each image gets the evaluation preprocessing: decode to RGB, the `preprocess.resize`
policy to the stored square (bilinear with antialiasing, as Pillow resizes), then the centre
`image_size` crop or, with `evaluate.ten_crop`, the average over the paper's ten crops.
TensorFlow's decoders do not apply EXIF orientation: send upright images.
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

from alexnet_pipeline.input.reader import ten_crops
from alexnet_pipeline.input.tfrecords import ShardFormat

TOP_K = 5


def _stored_square(image: tf.Tensor, size: int, policy: str) -> tf.Tensor:
    """One uint8 image to the `size` square of `policy`, as `images.resize_square` makes it."""
    if policy == "squash":
        square = tf.image.resize(image, (size, size), antialias=True)
    elif policy == "pad":
        square = tf.image.resize_with_pad(image, size, size, antialias=True)
    else:  # paper, crop: shorter side to `size`, then the centre square
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = size / tf.reduce_min(shape)
        resized = tf.image.resize(image, tf.cast(tf.round(shape * scale), tf.int32), antialias=True)
        square = tf.image.resize_with_crop_or_pad(resized, size, size)
    return tf.cast(tf.clip_by_value(tf.round(square), 0, 255), tf.uint8)


def serving_fn(model: keras.Model, labels: list[str], shards: ShardFormat, policy: str, ten_crop: bool):
    """The serving function: a batch of encoded images to probabilities and top-k names."""
    names = tf.constant(labels)
    k = min(TOP_K, len(labels))
    size, crops = shards.image_size, 10 if ten_crop else 1

    def prepare(data: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        square = _stored_square(image, shards.stored_size, policy)
        if ten_crop:
            return ten_crops(square, size)
        return tf.image.resize_with_crop_or_pad(square, size, size)[None]

    def serve(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        images = tf.map_fn(prepare, image_bytes, fn_output_signature=tf.TensorSpec((crops, size, size, 3), tf.uint8))
        scores = model(tf.reshape(images, (-1, size, size, 3)), training=False)
        probabilities = tf.reduce_mean(tf.reshape(scores, (-1, crops, len(labels))), axis=1)
        top = tf.math.top_k(probabilities, k=k)
        return {"probabilities": probabilities, "top_labels": tf.gather(names, top.indices),
                "top_probabilities": top.values}

    return serve


def export_for_serving(model: keras.Model, labels: list[str], shards: ShardFormat, policy: str,
                       folder: Path, ten_crop: bool = False) -> None:
    """Write the SavedModel to `folder` (which must not exist) and `labels.txt` beside its files."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serving_fn(model, labels, shards, policy, ten_crop),
                         input_signature=[tf.TensorSpec((None,), tf.string, name="image_bytes")])
    archive.write_out(str(folder), verbose=False)
    (folder / "labels.txt").write_text("".join(f"{name}\n" for name in labels), encoding="utf-8")
