"""manage.py triage_train / triage_evaluate, on files written here and on public data."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from aftercare.assist import classifier, registry
from aftercare.assist.models import TriageModel
from aftercare.assist.tests.factories import KIND_LABELS, KIND_TEXTS
from aftercare.core.shared_data import shared_data_dir
from aftercare.tickets import services as ticket_services

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_models():
    registry.forget_classifiers()


def write_csv(path, header, rows, encoding="utf-8"):
    with open(path, "w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def run(command, *args) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def kind_csv(tmp_path):
    return write_csv(
        tmp_path / "kind.csv", ["text", "kind"], list(zip(KIND_TEXTS, KIND_LABELS, strict=True))
    )


def test_train_then_evaluate_prints_one_json_object(tmp_path, kind_csv):
    out = run(
        "triage_train", "--data", kind_csv, "--text-col", "text", "--label-col", "kind",
        "--head", "kind",
    )  # fmt: skip
    model = TriageModel.objects.get()
    assert out.startswith("kind v1: 27 行，3 个类别")
    assert model.source == f"file:{kind_csv}"
    dev = [
        ("冰箱不制冷，食物放一晚就坏了", "repair"),
        ("请问保修期多久", "inquiry"),
        ("师傅迟到还态度差，我要投诉", "complaint"),
        ("请问安装要收费吗", "inquiry"),
        ("<p>洗衣机漏水</p>", "repair"),
        ("", "repair"),
    ]
    dev_csv = write_csv(tmp_path / "dev.csv", ["review", "label"], dev)
    out = run(
        "triage_evaluate", "--data", dev_csv, "--text-col", "review", "--label-col", "label",
        "--head", "kind",
    )  # fmt: skip
    report = json.loads(out)
    loaded = registry.load_classifier(model)
    predicted = [loaded.predict_text(text).label for text, _ in dev[:5]]
    expected = classifier.classification_report([label for _, label in dev[:5]], predicted)
    assert report["head"] == "kind" and report["model_version"] == 1
    assert (report["rows"], report["rows_without_text"]) == (5, 1)
    for key in ("accuracy", "macro_f1", "per_class", "labels", "confusion_matrix"):
        assert report[key] == expected[key]
    assert 0 < report["latency_ms_p50"] <= report["latency_ms_p95"]


def test_train_from_tickets(personas):
    for text, kind in zip(KIND_TEXTS, KIND_LABELS, strict=True):
        ticket_services.open_ticket(
            actor=personas.agnes,
            kind=kind,
            channel="phone",
            subject=text,
            customer=personas.alice_customer,
        )
    out = run("triage_train", "--head", "kind", "--from-tickets")
    assert out.startswith("kind v1: 27 行")
    assert TriageModel.objects.get().source == "tickets"


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_file", "找不到数据文件"),
        ("missing_column", "数据文件缺少列：kind；文件中的列：text、label"),
        ("single_class", "训练数据只有一个类别"),
        ("too_few", "训练数据太少"),
        ("not_utf8", "数据文件不是 UTF-8 编码"),
        ("empty_file", "数据文件为空或没有表头"),
        ("header_only", "数据文件只有表头，没有数据行"),
        ("unknown_labels", "标签不属于“kind”的取值：报修"),
        ("bad_label_map", "--label-map 格式应为"),
        ("no_data", "需要 --data、--text-col 和 --label-col"),
        ("bad_head", "分诊维度名称只能包含小写字母"),
    ],
)
def test_bad_training_input_is_a_clear_error(tmp_path, case, message):
    path = tmp_path / "data.csv"
    args = ["--data", str(path), "--text-col", "text", "--label-col", "kind", "--head", "kind"]
    rows = list(zip(KIND_TEXTS, KIND_LABELS, strict=True))
    if case == "missing_column":
        write_csv(path, ["text", "label"], rows)
    elif case == "single_class":
        write_csv(path, ["text", "kind"], [(t, "repair") for t in KIND_TEXTS])
    elif case == "too_few":
        write_csv(path, ["text", "kind"], [("空调坏了", "repair"), ("", "inquiry")])
    elif case == "not_utf8":
        write_csv(path, ["text", "kind"], rows, encoding="gbk")
    elif case == "empty_file":
        path.write_bytes(b"")
    elif case == "header_only":
        write_csv(path, ["text", "kind"], [])
    elif case == "unknown_labels":
        write_csv(path, ["text", "kind"], [(t, "报修") for t in KIND_TEXTS[:3]] + rows)
    elif case in ("bad_label_map", "bad_head"):
        write_csv(path, ["text", "kind"], rows)
        args += ["--label-map", "0:negative"] if case == "bad_label_map" else []
        if case == "bad_head":
            args[-1] = "种类"
    elif case == "no_data":
        args = ["--head", "kind"]
    with pytest.raises(CommandError, match=message):
        run("triage_train", *args)
    assert not TriageModel.objects.exists()


def test_evaluate_without_a_model_or_rows_is_a_clear_error(tmp_path, kind_csv):
    args = ["--data", kind_csv, "--text-col", "text", "--label-col", "kind", "--head", "kind"]
    with pytest.raises(CommandError, match="分诊维度“kind”没有可用的模型"):
        run("triage_evaluate", *args)
    run("triage_train", *args)
    blank = write_csv(tmp_path / "blank.csv", ["text", "kind"], [("", "repair"), ("x", "")])
    with pytest.raises(CommandError, match="没有可评估的行"):
        run("triage_evaluate", "--data", blank, *args[2:])


def test_public_sentiment_data_beats_the_baseline(tmp_path):
    """A slice of waimai-10k (evaluation-only data, read in place): 1,600 rows to train,
    every tenth of the next 4,000 to score, ours against TF-IDF + LinearSVC."""
    source = shared_data_dir() / "waimai-10k" / "waimai_10k.csv"
    with open(source, encoding="utf-8", newline="") as handle:
        rows = [(r["review"], r["label"]) for r in csv.DictReader(handle)]
    # The file is sorted by label; an interleaving keeps both classes in each slice.
    rows = [row for pair in zip(rows[:4000], rows[-4000:], strict=True) for row in pair]
    train, dev = rows[:1600], rows[1600::10]
    train_csv = write_csv(tmp_path / "train.csv", ["review", "label"], train)
    dev_csv = write_csv(tmp_path / "dev.csv", ["review", "label"], dev)
    common = ["--text-col", "review", "--label-col", "label", "--head", "sentiment"]
    run("triage_train", "--data", train_csv, "--label-map", "0=negative,1=positive", *common)
    report = json.loads(
        run("triage_evaluate", "--data", dev_csv, "--label-map", "0=negative,1=positive", *common)
    )
    assert report["labels"] == ["negative", "positive"]
    assert report["rows"] == 640

    vectorizer = TfidfVectorizer(tokenizer=classifier.jieba.lcut, token_pattern=None)
    svm = LinearSVC().fit(vectorizer.fit_transform([t for t, _ in train]), [y for _, y in train])
    baseline = float(
        (svm.predict(vectorizer.transform([t for t, _ in dev])) == [y for _, y in dev]).mean()
    )
    assert report["accuracy"] > baseline, (report["accuracy"], baseline)
    assert report["accuracy"] >= 0.85
