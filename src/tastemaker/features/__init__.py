"""Image features: a registry of pretrained vision backbones, batched extraction, cache."""
