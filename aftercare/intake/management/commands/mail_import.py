"""Run mail from files through the intake pipeline: one .eml file, a folder of .eml files, a
maildir or an mbox. Prints one JSON object per message."""

import json
import mailbox as mailboxes
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from aftercare.intake.choices import InboundSource
from aftercare.intake.inbound import receive_email
from aftercare.intake.models import Mailbox


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as head:
        return head.read(5) == b"From "


def messages(path: Path) -> Iterator[tuple[str, bytes | IO[bytes]]]:
    """(label, source) for every message under `path`, in a stable order."""
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            maildir = mailboxes.Maildir(str(path), create=False)
            for key in sorted(maildir.keys()):
                yield f"{path}:{key}", maildir.get_bytes(key)
            return
        for child in sorted(p for p in path.iterdir() if p.is_file()):
            yield from messages(child)
        return
    if _is_mbox(path):
        box = mailboxes.mbox(str(path), create=False)
        keys = list(box.keys())
        for index, key in enumerate(keys):
            label = str(path) if len(keys) == 1 else f"{path}:{index}"
            yield label, box.get_bytes(key)
        return
    with path.open("rb") as stream:
        yield str(path), stream


class Command(BaseCommand):
    help = "把 .eml 文件、目录、Maildir 或 mbox 中的邮件导入工单（与收信使用同一流程）"

    def add_arguments(self, parser):
        parser.add_argument("path", help=".eml 文件、目录、Maildir 或 mbox")
        parser.add_argument("--mailbox", help="服务邮箱名称（决定负责团队和回复地址）")

    def handle(self, *args, path: str, mailbox: str | None, **options):
        source = Path(path)
        if not source.exists():
            raise CommandError(_("找不到 %(path)s") % {"path": path})
        target = None
        if mailbox:
            target = Mailbox.objects.filter(name=mailbox).first()
            if target is None:
                raise CommandError(_("服务邮箱 %(name)s 不存在") % {"name": mailbox})
        for label, raw in messages(source):
            result = receive_email(source=raw, via=InboundSource.IMPORT, mailbox=target)
            self.stdout.write(json.dumps({"source": label, **result.as_dict()}, ensure_ascii=False))
