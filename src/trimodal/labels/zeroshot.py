"""Zero-shot relabelling of videos from their written description.

The original study doubted the uploaders' YouTube categories and relabelled each video with a
Hugging Face NLI zero-shot pipeline over the QuerYD paper's categories; one catch-all class took
half the videos, so they kept the probability table and tried dropping that class or keeping a
new label only when the runner-up was unlikely. Both back-ends here give that table:

- ``"nli"``: ``transformers.pipeline("zero-shot-classification")`` with an NLI model such as
  facebook/bart-large-mnli (hub id, online only; no NLI model is packaged for offline use);
- ``"embedding"``: cosine similarity between the Sentence-BERT embedding of the text and of each
  label's description, turned into probabilities by a softmax with a temperature. Works offline
  with the packaged all-MiniLM-L6-v2.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_NLI_MODEL = "facebook/bart-large-mnli"


def _as_series(texts) -> pd.Series:
    if isinstance(texts, pd.Series):
        s = texts.copy()
    elif isinstance(texts, dict):
        s = pd.Series(texts)
    else:
        s = pd.Series(list(texts))
    s.index = s.index.astype(str)
    return s.fillna("").astype(str)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def zero_shot_probs(
    texts,
    labels: list[str],
    backend: str = "embedding",
    model: str | None = None,
    label_descriptions: dict[str, str] | None = None,
    temperature: float = 0.05,
    hypothesis_template: str = "This video is about {}.",
    batch_size: int = 16,
    device: str = "cpu",
) -> pd.DataFrame:
    """Probability of each candidate label for each text: rows = video ids, columns = labels.

    ``texts``: a Series indexed by video id (or a dict, or a list: positions become ids).
    ``label_descriptions`` (label -> a sentence describing it) is what is compared with the
    text; a label without one is described by its own name. ``temperature`` (embedding only)
    scales cosine similarities before the softmax: MiniLM similarities span about 0-0.7, so
    0.05 turns a 0.1 gap into a factor e^2 ~ 7.4 in odds.
    """
    texts = _as_series(texts)
    labels = list(labels)
    if not labels:
        raise ValueError("need at least one candidate label")
    described = [(label_descriptions or {}).get(lab, lab) for lab in labels]
    if backend == "embedding":
        probs = _embedding_probs(texts.tolist(), described, model, temperature, batch_size, device)
    elif backend == "nli":
        probs = _nli_probs(
            texts.tolist(), described, model, hypothesis_template, batch_size, device
        )
    else:
        raise ValueError(f"unknown zero-shot backend {backend!r}; use 'embedding' or 'nli'")
    return pd.DataFrame(probs, index=texts.index, columns=labels)


def _embedding_probs(texts, described, model, temperature, batch_size, device) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    from trimodal.plumbing.models import resolve_model

    st = SentenceTransformer(resolve_model(model or DEFAULT_EMBEDDING_MODEL), device=device)
    kw = {"batch_size": batch_size, "normalize_embeddings": True, "show_progress_bar": False}
    t = st.encode(texts, **kw)
    lab = st.encode(described, **kw)
    return _softmax((t @ lab.T) / temperature)


def _nli_probs(texts, described, model, template, batch_size, device) -> np.ndarray:
    from transformers import pipeline

    from trimodal.plumbing.models import resolve_model

    clf = pipeline(
        "zero-shot-classification", model=resolve_model(model or DEFAULT_NLI_MODEL), device=device
    )
    col = {d: j for j, d in enumerate(described)}
    out = np.zeros((len(texts), len(described)))
    results = clf(
        texts, candidate_labels=described, hypothesis_template=template, batch_size=batch_size
    )
    if isinstance(results, dict):
        results = [results]
    for i, r in enumerate(results):
        for lab, score in zip(r["labels"], r["scores"], strict=True):
            out[i, col[lab]] = score
    return out


def relabel(
    probs: pd.DataFrame,
    strategy: str = "argmax",
    dominant: str | None = None,
    threshold: float = 0.2,
    original: pd.Series | None = None,
) -> pd.Series:
    """New label per video from a probability table, by one of the original study's rules.

    - ``"argmax"``: the most probable label;
    - ``"drop_dominant"``: ignore the catch-all label ``dominant`` and take the best other one;
    - ``"confident"``: the most probable label only when the runner-up's probability is below
      ``threshold``; otherwise the ``original`` label (aligned on the index) or NaN.
    """
    if strategy == "argmax":
        return probs.idxmax(axis=1).rename("label")
    if strategy == "drop_dominant":
        if dominant is None or dominant not in probs.columns:
            raise ValueError(f"drop_dominant needs a dominant label among {list(probs.columns)}")
        return probs.drop(columns=dominant).idxmax(axis=1).rename("label")
    if strategy == "confident":
        values = probs.to_numpy()
        runner_up = np.sort(values, axis=1)[:, -2] if values.shape[1] > 1 else np.zeros(len(values))
        best = probs.idxmax(axis=1).astype(object)
        fallback = (
            original.reindex(probs.index).astype(object)
            if original is not None
            else pd.Series(np.nan, index=probs.index, dtype=object)
        )
        return best.where(runner_up < threshold, fallback).rename("label")
    raise ValueError(f"unknown relabel strategy {strategy!r}")


def relabel_report(original: pd.Series, new: pd.Series) -> dict:
    """New label distribution against the original one, and their agreement.

    Agreement (accuracy and Cohen's kappa) is computed on the videos that have both labels;
    it only means something when both use the same label names.
    """
    from sklearn.metrics import accuracy_score, cohen_kappa_score

    original = original.copy()
    new = new.copy()
    original.index = original.index.astype(str)
    new.index = new.index.astype(str)
    both = pd.concat({"original": original, "new": new}, axis=1, join="outer")
    both = both.dropna().astype(str)
    report = {
        "n_original": int(original.notna().sum()),
        "n_new": int(new.notna().sum()),
        "n_compared": len(both),
        "original_distribution": original.dropna().astype(str).value_counts().to_dict(),
        "new_distribution": new.dropna().astype(str).value_counts().to_dict(),
    }
    if len(both):
        report["n_changed"] = int((both["original"] != both["new"]).sum())
        report["accuracy"] = float(accuracy_score(both["original"], both["new"]))
        report["cohen_kappa"] = float(cohen_kappa_score(both["original"], both["new"]))
    return report
