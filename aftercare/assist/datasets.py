"""Labelled CSV files for triage_train and triage_evaluate: read, checked, with errors a
person can act on (in Chinese, like the rest of the commands' output)."""

import csv
from pathlib import Path

from django.utils.translation import gettext as _

# One field of a CSV may hold a long e-mail thread, not more.
MAX_FIELD_CHARS = 10_000_000


class DatasetError(ValueError):
    pass


def parse_label_map(raw: str | None) -> dict[str, str]:
    """Turn "0=negative,1=positive" into {"0": "negative", "1": "positive"}."""
    if not raw:
        return {}
    mapping = {}
    for pair in raw.split(","):
        source, sep, target = pair.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise DatasetError(
                _("--label-map 格式应为 原值=新值,原值=新值，无法理解：%(pair)s") % {"pair": pair}
            )
        mapping[source.strip()] = target.strip()
    return mapping


def read_labelled_csv(
    path: str, text_col: str, label_col: str, label_map: dict[str, str] | None = None
) -> tuple[list[str], list[str]]:
    """Texts and labels of a UTF-8 CSV with a header row. Labels are stripped and mapped;
    a label the map does not name is kept as it is."""
    file = Path(path)
    if not file.is_file():
        raise DatasetError(_("找不到数据文件：%(path)s") % {"path": path})
    csv.field_size_limit(MAX_FIELD_CHARS)
    texts, labels = [], []
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            if not columns:
                raise DatasetError(_("数据文件为空或没有表头：%(path)s") % {"path": path})
            missing = [col for col in (text_col, label_col) if col not in columns]
            if missing:
                raise DatasetError(
                    _("数据文件缺少列：%(missing)s；文件中的列：%(columns)s")
                    % {"missing": "、".join(missing), "columns": "、".join(columns[:30])}
                )
            for row in reader:
                text, label = row.get(text_col), row.get(label_col)
                label = (label or "").strip()
                texts.append(text or "")
                labels.append((label_map or {}).get(label, label))
    except UnicodeDecodeError as exc:
        raise DatasetError(
            _("数据文件不是 UTF-8 编码（第 %(byte)d 字节附近）：请另存为 UTF-8 CSV")
            % {"byte": exc.start}
        ) from exc
    except csv.Error as exc:
        raise DatasetError(_("CSV 格式错误：%(error)s") % {"error": exc}) from exc
    if not texts:
        raise DatasetError(_("数据文件只有表头，没有数据行"))
    return texts, labels
