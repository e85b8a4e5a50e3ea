import json
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from aftercare.assist import classifier, registry
from aftercare.assist.datasets import DatasetError, parse_label_map, read_labelled_csv
from aftercare.assist.models import TriageModel


class Command(BaseCommand):
    help = (
        "Score the triage model in use for a head on a labelled CSV. Prints one JSON object: "
        "accuracy, macro_f1, per-class scores, confusion matrix, latency per ticket."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--head", required=True)
        parser.add_argument("--data", required=True, help="UTF-8 CSV with a header row")
        parser.add_argument("--text-col", required=True)
        parser.add_argument("--label-col", required=True)
        parser.add_argument("--label-map", help='rename labels, e.g. "0=negative,1=positive"')
        parser.add_argument(
            "--model-version", type=int, help="a stored version instead of the newest"
        )

    def handle(self, *args, **options) -> None:
        models = TriageModel.objects.select_related("head").filter(head__name=options["head"])
        if options["model_version"] is not None:
            models = models.filter(version=options["model_version"])
        else:
            models = models.filter(is_active=True)
        model = models.order_by("-version").first()
        if model is None:
            raise CommandError(
                _("分诊维度“%(head)s”没有可用的模型，请先运行 triage_train")
                % {"head": options["head"]}
            )
        try:
            texts, labels = read_labelled_csv(
                options["data"],
                options["text_col"],
                options["label_col"],
                parse_label_map(options["label_map"]),
            )
            loaded = registry.load_classifier(model)
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        except registry.ModelUnavailable as exc:
            raise CommandError(
                _("模型 v%(version)s 无法使用：%(error)s")
                % {"version": model.version, "error": exc.message}
            ) from exc

        truth, predicted, millis = [], [], []
        without_text = 0
        for text, label in zip(texts, labels, strict=True):
            if not label:
                continue
            started = time.perf_counter()
            prediction = loaded.predict_text(text)
            elapsed = (time.perf_counter() - started) * 1000
            if prediction is None:
                # Empty after cleaning (blank, only markup): triage gives no prediction.
                without_text += 1
                continue
            millis.append(elapsed)
            truth.append(label)
            predicted.append(prediction.label)
        if not truth:
            raise CommandError(_("数据文件中没有可评估的行（文本或标签全为空）"))
        report = {
            "head": model.head.name,
            "model_version": model.version,
            "rows": len(truth),
            "rows_without_text": without_text,
            **classifier.classification_report(truth, predicted),
            "latency_ms_p50": round(classifier.percentile(millis, 50), 3),
            "latency_ms_p95": round(classifier.percentile(millis, 95), 3),
        }
        self.stdout.write(json.dumps(report, ensure_ascii=False))
