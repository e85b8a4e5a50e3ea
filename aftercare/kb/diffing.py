"""A readable difference between two versions of an article.

Lines are compared first; a changed line is then compared character by character, because a
Chinese sentence has no spaces and a whole-line change hides the two characters that moved.
"""

import difflib

FIELDS = ("title", "summary", "keywords", "body")


def _segments(old: str, new: str) -> list[dict[str, str]]:
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    segments = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            segments.append({"op": "equal", "text": old[i1:i2]})
            continue
        if i2 > i1:
            segments.append({"op": "delete", "text": old[i1:i2]})
        if j2 > j1:
            segments.append({"op": "insert", "text": new[j1:j2]})
    return segments


def diff_text(old: str, new: str) -> list[dict]:
    """Rows of {"op": equal|delete|insert|change, "old", "new", "segments"}; a change row
    pairs an old line with the new line that replaced it."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    rows: list[dict] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            rows.extend({"op": "equal", "old": line, "new": line} for line in old_lines[i1:i2])
        elif op == "delete":
            rows.extend({"op": "delete", "old": line, "new": ""} for line in old_lines[i1:i2])
        elif op == "insert":
            rows.extend({"op": "insert", "old": "", "new": line} for line in new_lines[j1:j2])
        else:
            pairs = list(zip(old_lines[i1:i2], new_lines[j1:j2], strict=False))
            for before, after in pairs:
                rows.append(
                    {
                        "op": "change",
                        "old": before,
                        "new": after,
                        "segments": _segments(before, after),
                    }
                )
            rows.extend(
                {"op": "delete", "old": line, "new": ""} for line in old_lines[i1 + len(pairs) : i2]
            )
            rows.extend(
                {"op": "insert", "old": "", "new": line} for line in new_lines[j1 + len(pairs) : j2]
            )
    return rows


def unified(old: str, new: str, *, old_label: str, new_label: str) -> str:
    return "\n".join(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), fromfile=old_label, tofile=new_label, lineterm=""
        )
    )


def diff_versions(old, new) -> dict:
    """Per field: whether it changed, its rows and a unified diff of it."""
    out = {}
    for name in FIELDS:
        before, after = getattr(old, name), getattr(new, name)
        out[name] = {
            "changed": before != after,
            "rows": diff_text(before, after) if before != after else [],
            "unified": unified(
                before, after, old_label=f"v{old.number}", new_label=f"v{new.number}"
            )
            if before != after
            else "",
        }
    return out
