from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from aftercare.assist import services
from aftercare.assist.datasets import DatasetError, parse_label_map, read_labelled_csv
from aftercare.core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Train a new version of a triage head from a labelled CSV (or from the ticket "
        "history with --from-tickets) and make it the model in use."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--head", required=True, help="kind, priority, sentiment, category…")
        parser.add_argument("--data", help="UTF-8 CSV with a header row")
        parser.add_argument("--text-col", help="column holding the text")
        parser.add_argument("--label-col", help="column holding the label")
        parser.add_argument(
            "--label-map", help='rename labels, e.g. "0=negative,1=positive" for sentiment'
        )
        parser.add_argument(
            "--from-tickets",
            action="store_true",
            help="train from the tickets' fields and the agents' labels instead of a file",
        )

    def handle(self, *args, **options) -> None:
        head = options["head"]
        try:
            if options["from_tickets"]:
                texts, labels = services.ticket_training_rows(head)
                source = "tickets"
            else:
                if not (options["data"] and options["text_col"] and options["label_col"]):
                    raise CommandError(
                        _("需要 --data、--text-col 和 --label-col（或使用 --from-tickets）")
                    )
                texts, labels = read_labelled_csv(
                    options["data"],
                    options["text_col"],
                    options["label_col"],
                    parse_label_map(options["label_map"]),
                )
                source = f"file:{options['data']}"
            model = services.train_head(head=head, texts=texts, labels=labels, source=source)
        except (DatasetError, DomainError) as exc:
            raise CommandError(str(getattr(exc, "message", exc))) from exc
        metrics = model.metrics
        self.stdout.write(
            _(
                "%(head)s v%(version)s: %(rows)s 行，%(classes)s 个类别，"
                "交叉验证准确率 %(cv)s，C=%(c)s，文件 %(file)s"
            )
            % {
                "head": model.head.name,
                "version": model.version,
                "rows": model.training_rows,
                "classes": len(model.labels),
                "cv": metrics.get("cv_accuracy"),
                "c": metrics.get("C"),
                "file": model.file.name,
            }
        )
