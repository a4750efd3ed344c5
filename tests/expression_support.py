"""The tiny expression model the tests train: learns the synthetic data in seconds on one CPU thread."""

from models.expression.model import ExpressionConfig

TINY_EXPRESSION = ExpressionConfig(
    variant="lstm",
    features=("mae", "fbank"),
    fusion_dim=32,
    layers=1,
    heads=2,
    feedforward_dim=64,
    segment_length=32,
    stride=32,
    classifier_hidden=(32, 16),
    epochs=10,
    batch_size=8,
    lr=2e-3,
)
