"""The classifier on its own: text cleaning, features, training, explanation, storage."""

import io
import math
import pickle

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from aftercare.assist import classifier
from aftercare.assist.tests.factories import (
    KIND_LABELS,
    KIND_TEXTS,
    SENTIMENT_LABELS,
    SENTIMENT_TEXTS,
)


@pytest.fixture(scope="module")
def kind_model() -> classifier.TextClassifier:
    return classifier.train(KIND_TEXTS, KIND_LABELS)


def test_clean_text_strips_markup_and_normalises():
    raw = "<p>空调<b>不制冷</b></p><script>alert(1)</script>\n\n ＡＢＣ　&amp; 😡！！"
    assert classifier.clean_text(raw) == "空调 不制冷 abc & 😡!!"


def test_clean_text_of_nothing_and_of_very_long_text():
    assert classifier.clean_text(None) == ""
    assert classifier.clean_text("   \n\t ") == ""
    assert classifier.clean_text("<p></p><br>") == ""
    long = "漏水" * 10_000
    assert classifier.clean_text(long) == long[: classifier.MAX_CHARS]


def test_analyze_mixed_scripts():
    analysis = classifier.analyze(classifier.clean_text("E1故障 refund"))
    assert set(analysis.words) == {"e1", "故障", "refund", "e1 故障", "故障 refund"}
    # Latin words: padded 2–5-grams; the Chinese run: 1–3-grams.
    assert set(analysis.chars) == {
        " e", "e1", "1 ", " e1", "e1 ", " e1 ",
        " r", "re", "ef", "fu", "un", "nd", "d ",
        " re", "ref", "efu", "fun", "und", "nd ",
        " ref", "refu", "efun", "fund", "und ",
        " refu", "refun", "efund", "fund ",
        "故", "障", "故障",
    }  # fmt: skip


def test_vectoriser_matches_scikit_learn_tfidf():
    texts = ["空调不制冷", "空调漏水漏水", "请问保修期", "refund my order"]
    docs = [classifier.analyze(classifier.clean_text(t)) for t in texts]
    ours = classifier.Vocabulary.fit([d.chars for d in docs], min_df=1)
    reference = TfidfVectorizer(analyzer=lambda c: list(c.elements()), sublinear_tf=True)
    expected = reference.fit_transform([d.chars for d in docs])
    assert ours.terms == list(reference.get_feature_names_out())
    np.testing.assert_allclose(ours.idf, reference.idf_)
    np.testing.assert_allclose(
        ours.matrix([d.chars for d in docs]).toarray(), expected.toarray(), rtol=1e-12
    )


def test_prediction_label_confidence_and_driving_words(kind_model):
    prediction = kind_model.predict_text("请问保修期多久？")
    assert prediction is not None
    assert prediction.label == "inquiry"
    assert math.isclose(sum(prediction.probabilities.values()), 1.0)
    assert prediction.confidence == max(prediction.probabilities.values())
    assert prediction.terms[0][0] == "请问"
    assert all(weight > 0 for _, weight in prediction.terms)
    assert len(prediction.terms) <= classifier.TOP_TERMS


@pytest.mark.parametrize(
    "text, label",
    [
        ("师傅迟到了，我要投诉", "complaint"),
        ("<div>冰箱<br>不制冷</div>", "repair"),
        ("空调不制冷😡😡😡", "repair"),
        ("请问 warranty 保修多久 ?", "inquiry"),
    ],
)
def test_predicts_through_html_emoji_and_mixed_scripts(kind_model, text, label):
    prediction = kind_model.predict_text(text)
    assert prediction is not None and prediction.label == label


@pytest.mark.parametrize("text", ["", "   ", "<p> </p>", "🙂", "zzzz qqqq"])
def test_nothing_to_go_on_gives_no_prediction(kind_model, text):
    assert kind_model.predict_text(text) is None


def test_very_long_text_is_cut_not_refused(kind_model):
    prediction = kind_model.predict_text("请问保修期多久？" + "啊" * 200_000)
    assert prediction is not None and prediction.label == "inquiry"


def test_training_refuses_a_single_class_and_too_few_rows():
    with pytest.raises(classifier.TrainingError, match="single_class"):
        classifier.train(KIND_TEXTS, ["repair"] * len(KIND_TEXTS))
    with pytest.raises(classifier.TrainingError, match="too_few_rows:2"):
        classifier.train(["空调不制冷", "请问保修", "", "<p></p>"], ["repair", "inquiry"] * 2)


def test_training_is_deterministic():
    first = classifier.train(SENTIMENT_TEXTS, SENTIMENT_LABELS)
    second = classifier.train(SENTIMENT_TEXTS, SENTIMENT_LABELS)
    assert first.char_vocab.terms == second.char_vocab.terms
    np.testing.assert_array_equal(first.coef, second.coef)
    np.testing.assert_array_equal(first.calibration, second.calibration)


def test_round_trip_through_bytes(kind_model):
    loaded = classifier.TextClassifier.loads(kind_model.dumps())
    assert loaded.labels == ["complaint", "inquiry", "repair"]
    for text in ["空调漏水", "请问发票", "我要投诉"]:
        assert loaded.predict_text(text) == kind_model.predict_text(text)


def test_corrupt_bytes_are_refused(kind_model):
    data = kind_model.dumps()
    for broken in [b"", b"not a model", data[: len(data) // 2], data[:-10] + b"0123456789"]:
        with pytest.raises(classifier.ModelFormatError):
            classifier.TextClassifier.loads(broken)


class _Trap:
    def __reduce__(self):
        return (open, ("/tmp/aftercare-triage-pickle-ran", "w"))


def test_a_pickle_is_refused_without_running_it(tmp_path):
    import os

    marker = "/tmp/aftercare-triage-pickle-ran"
    if os.path.exists(marker):
        os.remove(marker)
    buffer = io.BytesIO()
    np.savez(buffer, header=np.array([_Trap()], dtype=object))
    with pytest.raises(classifier.ModelFormatError):
        classifier.TextClassifier.loads(buffer.getvalue())
    with pytest.raises(classifier.ModelFormatError):
        classifier.TextClassifier.loads(pickle.dumps(_Trap()))
    assert not os.path.exists(marker)


def test_classification_report_exact():
    report = classifier.classification_report(
        ["a", "a", "b", "b"], ["a", "b", "b", "b"], labels=["a", "b"]
    )
    assert report["accuracy"] == 0.75
    assert report["confusion_matrix"] == [[1, 1], [0, 2]]
    assert report["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert report["macro_f1"] == round((2 / 3 + 0.8) / 2, 4)
