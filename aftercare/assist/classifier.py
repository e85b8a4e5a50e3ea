"""Text classification heads for triage: plain Python, NumPy and scikit-learn, no Django.

Features. A text is cleaned (HTML removed, NFKC, lower case, whitespace collapsed, cut to
MAX_CHARS) and turned into two blocks of n-grams, each weighted by sublinear TF-IDF and
L2-normalised on its own:
- words: jieba tokens (jieba also splits English into words), unigrams and bigrams;
- characters: 1–3-grams of every run of non-Latin text (Chinese carries most of its meaning
  in one- and two-character units, and punctuation such as "！！" carries mood), and 2–5-grams
  of every Latin word padded with spaces, which survive typos and inflections.

Model. One linear SVM (LinearSVC, one-vs-rest) per head; C is picked from a small grid by
stratified 3-fold cross-validation on the training rows alone, and the same cross-validated
scores fit one Platt sigmoid per class, so the confidence of a prediction is a calibrated
probability. The words behind a prediction are the features with the largest contribution
(TF-IDF value × weight) to the winning class.

Storage. A trained classifier is written as a NumPy .npz archive of plain arrays (vocabulary
as UTF-8 bytes, float32 weights, a JSON header) and read back with allow_pickle=False: a model
file can be corrupt but cannot run code when loaded.
"""

from __future__ import annotations

import functools
import html
import io
import itertools
import json
import math
import re
import time
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jieba
import nh3
import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.metrics import precision_recall_fscore_support as prf
from sklearn.svm import LinearSVC

jieba.setLogLevel(60)

FORMAT = "aftercare-triage/1"
# Longer texts are cut: the opening of a complaint names the product and the problem, and a
# 20,000-character e-mail thread must not cost more than a screenful of text.
MAX_CHARS = 3000
C_GRID = (0.1, 0.3, 1.0)
FOLDS = 3
MIN_ROWS = 6
TOP_TERMS = 5

_TAG = re.compile(r"<[^>]{0,2000}>")
_LATIN = re.compile(r"[a-z0-9]+")
_EDGE_MARKS = " ,.;:!?'\"()[]{}<>-_~、。，！？；：…"
_HAS_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff]")
_WORD_OR_MARK = re.compile(r"[^\W_]+|\S")
_CJK_GAP = re.compile(r"(?<=[\u2e80-\u9fff\uf900-\ufaff]) (?=[\u2e80-\u9fff\uf900-\ufaff])")


class TrainingError(ValueError):
    """Training data that cannot give a model (too few rows, one class)."""


class ModelFormatError(ValueError):
    """A model file that is not a readable triage model."""


# --- text ----------------------------------------------------------------------------------


def clean_text(raw: str | None) -> str:
    """The text the features are taken from: tags and entities removed, NFKC, lower case,
    one space for every run of whitespace, at most MAX_CHARS characters."""
    if not raw:
        return ""
    text = raw[: MAX_CHARS * 4]
    if "<" in text and ">" in text:
        # A space after every tag keeps "<p>a</p><p>b</p>" two words; nh3 then drops the
        # tags, and <script>/<style> with their content.
        text = nh3.clean(_TAG.sub(r"\g<0> ", text), tags=set())
    text = html.unescape(text)
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(text.split())[:MAX_CHARS]


@dataclass
class Analysis:
    words: Counter
    chars: Counter

    @property
    def empty(self) -> bool:
        return not self.words and not self.chars


def analyze(text: str) -> Analysis:
    """Word and character n-gram counts of a cleaned text."""
    # jieba is only needed where there is Chinese; a regex splits the rest the way jieba
    # would, in a fraction of the time (long English e-mails are common).
    tokens = jieba.lcut(text) if _HAS_CJK.search(text) else _WORD_OR_MARK.findall(text)
    tokens = [t for t in tokens if not t.isspace()]
    words = Counter(tokens)
    words.update(f"{a} {b}" for a, b in itertools.pairwise(tokens))
    chars: Counter = Counter()
    for word in _LATIN.findall(text):
        chars.update(_latin_grams(word))
    for run in _LATIN.sub(" ", text).split():
        for n in range(1, 4):
            chars.update(run[i : i + n] for i in range(len(run) - n + 1))
    return Analysis(words, chars)


@functools.lru_cache(maxsize=50_000)
def _latin_grams(word: str) -> tuple[str, ...]:
    padded = f" {word} "
    return tuple(padded[i : i + n] for n in range(2, 6) for i in range(len(padded) - n + 1))


def display_term(term: str) -> str:
    """A feature as a reader sees it: "空调 漏水" → "空调漏水", " refund " → "refund",
    "好了 ," → "好了"."""
    return _CJK_GAP.sub("", term.strip(_EDGE_MARKS))


def _meaningful(term: str) -> bool:
    """Letters, digits or symbols such as emoji; not punctuation alone."""
    return any(ch.isalnum() or unicodedata.category(ch) == "So" for ch in term)


# --- vectorising ---------------------------------------------------------------------------


@dataclass
class Vocabulary:
    terms: list[str]
    idf: np.ndarray
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {term: i for i, term in enumerate(self.terms)}

    @classmethod
    def fit(cls, counts: Sequence[Counter], min_df: int) -> Vocabulary:
        df: Counter = Counter()
        for c in counts:
            df.update(c.keys())
        terms = sorted(t for t, n in df.items() if n >= min_df)
        n_docs = len(counts)
        # The smoothed IDF of scikit-learn's TfidfVectorizer.
        idf = np.array([math.log((1 + n_docs) / (1 + df[t])) + 1 for t in terms], np.float64)
        return cls(terms, idf)

    def row(self, counts: Counter) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and L2-normalised sublinear TF-IDF values of one text."""
        # dict.get through map() keeps the per-n-gram work in C: this is the hot loop of a
        # prediction, once per head and block.
        found = np.fromiter(
            map(self.index.get, counts.keys(), itertools.repeat(-1)), np.int64, len(counts)
        )
        known = found >= 0
        cols = found[known]
        tf = np.fromiter(counts.values(), np.float64, len(counts))[known]
        values = (1.0 + np.log(tf)) * self.idf[cols]
        norm = math.sqrt(float(values @ values)) if len(values) else 0.0
        if norm:
            values /= norm
        return cols, values

    def matrix(self, counts: Sequence[Counter]) -> sp.csr_matrix:
        indptr, indices, data = [0], [], []
        for c in counts:
            cols, vals = self.row(c)
            indices.append(cols)
            data.append(vals)
            indptr.append(indptr[-1] + len(cols))
        return sp.csr_matrix(
            (
                np.concatenate(data) if data else np.zeros(0),
                np.concatenate(indices) if indices else np.zeros(0, np.int64),
                np.asarray(indptr),
            ),
            shape=(len(counts), len(self.terms)),
        )


def _features(word_vocab: Vocabulary, char_vocab: Vocabulary, docs: Sequence[Analysis]):
    return sp.hstack(
        [word_vocab.matrix([d.words for d in docs]), char_vocab.matrix([d.chars for d in docs])]
    ).tocsr()


# --- the classifier ------------------------------------------------------------------------


@dataclass
class Prediction:
    label: str
    confidence: float
    probabilities: dict[str, float]
    terms: list[tuple[str, float]]


@dataclass
class TextClassifier:
    labels: list[str]
    word_vocab: Vocabulary
    char_vocab: Vocabulary
    coef: np.ndarray  # (classes, features), float32
    intercept: np.ndarray  # (classes,)
    calibration: np.ndarray  # (classes, 2): Platt slope and offset per class
    meta: dict[str, Any] = field(default_factory=dict)

    # -- prediction --

    def scores(self, analysis: Analysis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Decision scores, plus the feature columns and values of the text."""
        w_cols, w_vals = self.word_vocab.row(analysis.words)
        c_cols, c_vals = self.char_vocab.row(analysis.chars)
        cols = np.concatenate([w_cols, c_cols + len(self.word_vocab.terms)])
        vals = np.concatenate([w_vals, c_vals])
        return self.coef[:, cols] @ vals + self.intercept, cols, vals

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        a, b = self.calibration[:, 0], self.calibration[:, 1]
        p = 1.0 / (1.0 + np.exp(-(a * scores + b)))
        total = p.sum()
        return p / total if total > 0 else np.full(len(p), 1.0 / len(p))

    def predict(self, analysis: Analysis, *, explain: bool = True) -> Prediction | None:
        """None when the text has no feature the model knows: the scores would be the
        intercepts alone, a guess from the class sizes rather than from the text."""
        scores, cols, vals = self.scores(analysis)
        if not len(cols):
            return None
        probs = self.probabilities(scores)
        best = int(np.argmax(probs))
        terms = self._explain(best, cols, vals) if explain else []
        return Prediction(
            label=self.labels[best],
            confidence=float(probs[best]),
            probabilities={lab: float(p) for lab, p in zip(self.labels, probs, strict=True)},
            terms=terms,
        )

    def predict_text(self, text: str, *, explain: bool = True) -> Prediction | None:
        """None when nothing of the text is left to classify (empty, only markup) or when
        none of its n-grams occurs in the training data."""
        analysis = analyze(clean_text(text))
        if analysis.empty:
            return None
        return self.predict(analysis, explain=explain)

    def _explain(self, k: int, cols: np.ndarray, vals: np.ndarray) -> list[tuple[str, float]]:
        if not len(cols):
            return []
        contributions = self.coef[k, cols] * vals
        order = np.argsort(-contributions)
        n_words = len(self.word_vocab.terms)
        chosen: list[tuple[str, float]] = []
        for i in order[: TOP_TERMS * 8]:
            weight = float(contributions[i])
            if weight <= 0 or len(chosen) == TOP_TERMS:
                break
            j = int(cols[i])
            raw = self.word_vocab.terms[j] if j < n_words else self.char_vocab.terms[j - n_words]
            term = display_term(raw)
            if not _meaningful(term) or any(term in seen or seen in term for seen, _ in chosen):
                continue
            chosen.append((term, round(weight, 4)))
        return chosen

    # -- storage --

    def dumps(self) -> bytes:
        header = {"format": FORMAT, "labels": self.labels, "meta": self.meta}
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            header=np.frombuffer(json.dumps(header, ensure_ascii=False).encode(), np.uint8),
            word_terms=_pack_terms(self.word_vocab.terms),
            word_idf=self.word_vocab.idf,
            char_terms=_pack_terms(self.char_vocab.terms),
            char_idf=self.char_vocab.idf,
            coef=self.coef.astype(np.float32),
            intercept=self.intercept.astype(np.float64),
            calibration=self.calibration.astype(np.float64),
        )
        return buffer.getvalue()

    @classmethod
    def loads(cls, data: bytes) -> TextClassifier:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                header = json.loads(bytes(archive["header"]).decode())
                if header.get("format") != FORMAT:
                    raise ModelFormatError(f"unknown model format {header.get('format')!r}")
                labels = [str(label) for label in header["labels"]]
                word = Vocabulary(_unpack_terms(archive["word_terms"]), archive["word_idf"])
                char = Vocabulary(_unpack_terms(archive["char_terms"]), archive["char_idf"])
                coef = archive["coef"]
                intercept = archive["intercept"]
                calibration = archive["calibration"]
        except ModelFormatError:
            raise
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelFormatError(str(exc) or type(exc).__name__) from exc
        n_features = len(word.terms) + len(char.terms)
        if (
            coef.shape != (len(labels), n_features)
            or intercept.shape != (len(labels),)
            or calibration.shape != (len(labels), 2)
            or len(word.idf) != len(word.terms)
            or len(char.idf) != len(char.terms)
        ):
            raise ModelFormatError("array shapes do not match the label set and vocabulary")
        return cls(labels, word, char, coef, intercept, calibration, header.get("meta", {}))


def _pack_terms(terms: list[str]) -> np.ndarray:
    # Terms never contain a newline: clean_text turns every whitespace run into one space.
    return np.frombuffer("\n".join(terms).encode(), np.uint8)


def _unpack_terms(packed: np.ndarray) -> list[str]:
    text = bytes(packed).decode()
    return text.split("\n") if text else []


# --- training ------------------------------------------------------------------------------


def _folds(y: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """A stratified fold number per row: each class dealt round-robin after a shuffle."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(y), np.int64)
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        rng.shuffle(rows)
        fold[rows] = np.arange(len(rows)) % n_folds
    return fold


def _svm_scores(svm: LinearSVC, X, labels: list[str]) -> np.ndarray:
    """Scores of every label in `labels` order; labels the SVM never saw score very low."""
    raw = svm.decision_function(X)
    if raw.ndim == 1:
        raw = np.column_stack([-raw, raw])
    if len(svm.classes_) == 1:
        raw = np.zeros((X.shape[0], 1))
    out = np.full((X.shape[0], len(labels)), -10.0)
    position = {label: i for i, label in enumerate(labels)}
    for i, label in enumerate(svm.classes_):
        out[:, position[label]] = raw[:, i]
    return out


def _fit_svm(X, y: np.ndarray, c: float) -> LinearSVC:
    return LinearSVC(C=c, max_iter=5000, random_state=0).fit(X, y)


def _sigmoid_fit(scores: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Platt scaling: slope and offset of p = 1 / (1 + exp(-(a·s + b))), fitted to the
    smoothed targets Platt proposed ((n₊ + 1) / (n₊ + 2) and 1 / (n₋ + 2)), which keep a
    small, separable training set from claiming certainty."""
    positives = int(target.sum())
    negatives = len(target) - positives
    soft = np.where(target, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        z = params[0] * scores + params[1]
        # log(1 + exp(-z)) and log(1 + exp(z)), computed without overflow.
        log_p, log_q = -np.logaddexp(0, -z), -np.logaddexp(0, z)
        value = -float(np.sum(soft * log_p + (1 - soft) * log_q))
        residual = 1.0 / (1.0 + np.exp(-z)) - soft
        return value, np.array([float(residual @ scores), float(residual.sum())])

    prior = math.log((positives + 1.0) / (negatives + 1.0))
    result = minimize(loss, np.array([1.0, prior]), jac=True, method="L-BFGS-B")
    return float(result.x[0]), float(result.x[1])


def _platt(scores: np.ndarray, y: np.ndarray, labels: list[str]) -> np.ndarray:
    calibration = np.zeros((len(labels), 2))
    for k, label in enumerate(labels):
        target = y == label
        if target.all() or not target.any():
            calibration[k] = (1.0, 0.0)
            continue
        calibration[k] = _sigmoid_fit(scores[:, k], target)
    return calibration


def train(
    texts: Iterable[str],
    labels: Iterable[str],
    *,
    c_grid: Sequence[float] = C_GRID,
    seed: int = 20240611,
) -> TextClassifier:
    """Train a classifier. Rows whose text is empty after cleaning are left out.

    Raises TrainingError when fewer than MIN_ROWS rows or fewer than two classes remain.
    """
    started = time.monotonic()
    docs, ys = [], []
    for text, label in zip(texts, labels, strict=True):
        label = str(label).strip()
        analysis = analyze(clean_text(text))
        if label and not analysis.empty:
            docs.append(analysis)
            ys.append(label)
    classes = sorted(set(ys))
    if len(docs) < MIN_ROWS:
        raise TrainingError(f"too_few_rows:{len(docs)}")
    if len(classes) < 2:
        raise TrainingError("single_class")
    y = np.asarray(ys)
    # Rare n-grams are noise once there is enough text; a small ticket history keeps them.
    min_df = 2 if len(docs) >= 500 else 1
    word_vocab = Vocabulary.fit([d.words for d in docs], min_df)
    char_vocab = Vocabulary.fit([d.chars for d in docs], min_df)
    X = _features(word_vocab, char_vocab, docs)

    fold = _folds(y, FOLDS, seed)
    best: tuple[float, float, np.ndarray] | None = None
    for c in c_grid:
        oof = np.zeros((len(y), len(classes)))
        for f in range(FOLDS):
            test = fold == f
            if not test.any() or len(set(y[~test])) < 2:
                oof[test] = 0.0
                continue
            oof[test] = _svm_scores(_fit_svm(X[~test], y[~test], c), X[test], classes)
        accuracy = float(np.mean(np.asarray(classes)[oof.argmax(1)] == y))
        if best is None or accuracy > best[0]:
            best = (accuracy, c, oof)
    assert best is not None
    cv_accuracy, c, oof = best
    svm = _fit_svm(X, y, c)
    coef = svm.coef_
    intercept = svm.intercept_
    if len(classes) == 2:
        # One score s for the second class; the first gets -s, as decision_function implies.
        coef = np.vstack([-coef[0], coef[0]])
        intercept = np.array([-intercept[0], intercept[0]])
    return TextClassifier(
        labels=classes,
        word_vocab=word_vocab,
        char_vocab=char_vocab,
        coef=coef.astype(np.float32),
        intercept=intercept.astype(np.float64),
        calibration=_platt(oof, y, classes),
        meta={
            "C": c,
            "cv_accuracy": round(cv_accuracy, 4),
            "rows": len(docs),
            "class_counts": dict(sorted(Counter(ys).items())),
            "features": int(X.shape[1]),
            "train_seconds": round(time.monotonic() - started, 2),
        },
    )


# --- evaluation ----------------------------------------------------------------------------


def classification_report(
    truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, Any]:
    """accuracy, macro F1, per-class precision/recall/F1/support and the confusion matrix
    (rows: true label, columns: predicted label, both in `labels` order)."""
    labels = list(labels or sorted(set(truth) | set(predicted)))
    precision, recall, f1, support = prf(truth, predicted, labels=labels, zero_division=0.0)
    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(
            float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0.0)),
            4,
        ),
        "per_class": {
            label: {
                "precision": round(float(p), 4),
                "recall": round(float(r), 4),
                "f1": round(float(f), 4),
                "support": int(s),
            }
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "labels": labels,
        "confusion_matrix": confusion_matrix(truth, predicted, labels=labels).tolist(),
    }


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else 0.0
