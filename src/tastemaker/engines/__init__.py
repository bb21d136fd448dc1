"""Scoring and embedding many images: one batch function (paths → embeddings →
scores) that runs in this process (:mod:`.local`) or as a Ray Data stage on a cluster
(:mod:`.ray_data`), and the Parquet folder both write, which a rerun resumes
(:mod:`.parquet`)."""
