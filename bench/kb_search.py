#!/usr/bin/env python3
"""Knowledge-base search over 10,000 articles, on SQLite and on PostgreSQL.

For each database the harness builds (or, with ``--reuse``, keeps) a scale database —
``migrate``, then 10,000 generated articles of a home-appliance maker written straight to the
tables (12% with an English variant, 8% with a zh-Hant one; the text is assembled from the
vocabulary below, not copied from anywhere), then ``kb.search.rebuild_index()`` — runs
ANALYZE, and measures in a child process with Django in-process:

``search``  ``kb.selectors.search_articles()`` — analysis, synonyms, spelling, ranking and
            loading the page of results — for a fixed mix of queries: Chinese symptoms,
            fault codes, policies, traditional characters, English with and without typos,
            synonym phrasings and misses; as a customer (public articles) and as an agent.
``api``     ``GET /api/v1/kb/search?q=…`` through the test Client with a bearer token, for the
            same queries (routing, auth, serialisation, JSON on top).

    .venv/bin/python bench/kb_search.py                 # build both, then measure
    .venv/bin/python bench/kb_search.py --reuse         # keep databases already built
    .venv/bin/python bench/kb_search.py --targets sqlite --articles 2000

Writes bench/results/kb_search.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_PATH = BENCH_DIR / "results" / "kb_search.json"
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
TARGETS = ("sqlite", "postgres")
GOAL_P95_MS = 50.0

# --- the generated corpus ---------------------------------------------------------------------

PRODUCTS = {
    "空调": ("air conditioner", ["KFR-26GW", "KFR-35GW", "KFR-50LW", "KFR-72LW"]),
    "冰箱": ("refrigerator", ["BCD-215", "BCD-468", "BCD-520W"]),
    "洗衣机": ("washing machine", ["XQG80-B", "XQG100-H", "XQB90-T"]),
    "热水器": ("water heater", ["JSQ24-13", "F60-3A", "F80-5B"]),
}
SYMPTOMS = {
    "空调": [
        ("不制冷", "not cooling"),
        ("制冷效果差", "weak cooling"),
        ("外机不转", "outdoor unit not running"),
        ("漏水", "leaking water"),
        ("噪音大", "loud noise"),
        ("有异味", "bad smell"),
        ("遥控器失灵", "remote control not working"),
        ("不制热", "not heating"),
    ],
    "冰箱": [
        ("冷藏室不制冷", "fridge compartment not cooling"),
        ("冷冻室结霜", "frost in the freezer"),
        ("压缩机噪音大", "compressor noise"),
        ("门封条漏气", "door seal leaking"),
        ("有异味", "bad smell"),
        ("不停机", "compressor never stops"),
    ],
    "洗衣机": [
        ("不排水", "not draining"),
        ("不脱水", "not spinning"),
        ("震动大", "strong vibration"),
        ("漏水", "leaking water"),
        ("门锁打不开", "door lock stuck"),
        ("进水慢", "slow water inlet"),
    ],
    "热水器": [
        ("不加热", "not heating"),
        ("不点火", "burner does not ignite"),
        ("水温忽冷忽热", "water temperature unstable"),
        ("漏电保护跳闸", "leakage protection trips"),
        ("出水量小", "low water flow"),
    ],
}
CODES = {
    "空调": [("E1", "室内外机通讯故障"), ("E4", "室外温度传感器故障"), ("F2", "压缩机过载保护")],
    "冰箱": [("E2", "冷藏室温度传感器故障"), ("E6", "通讯故障"), ("F1", "化霜加热器故障")],
    "洗衣机": [("E21", "排水超时"), ("E30", "门锁异常"), ("E10", "进水超时")],
    "热水器": [("E1", "点火失败"), ("E3", "干烧保护"), ("E5", "温度传感器故障")],
}
CAUSES = [
    "滤网堵塞",
    "冷媒不足",
    "电源电压偏低",
    "排水泵被异物堵住",
    "门封条老化变形",
    "点火针积碳",
    "温度传感器接触不良",
    "主板程序异常",
    "安装不水平",
    "进水阀滤网脏堵",
    "燃气阀门未打开",
    "镁棒消耗完毕",
]
ACTIONS = [
    "先断电五分钟后重新开机",
    "清洗滤网并晾干后装回",
    "检查室外机周围是否有遮挡",
    "确认设定温度低于室温",
    "清理排水泵过滤器中的硬币和纽扣",
    "调整底脚使机身水平",
    "检查燃气阀门和电池电量",
    "联系客服预约上门检测",
    "由工程师检测压力后补加冷媒",
    "更换门封条",
    "更换温度传感器",
    "升级主板程序",
]
POLICIES = [
    ("三包退换货政策", "自购买次日起7天内性能故障可退货，15天内可换货，保修期内免费维修。"),
    ("延保服务说明", "购买延保后保修期延长两年，延保期内维修免收人工费和配件费。"),
    ("以旧换新补贴规则", "旧机回收后按型号给予补贴，补贴在新机安装完成后发放。"),
    ("上门安装收费标准", "标准安装免费，超出标准的铜管和支架按价目表收费。"),
    ("发票和保修卡", "保修凭发票或电子订单，无凭证时按出厂日期顺延三个月计算。"),
]
ENGLISH_ACTIONS = [
    "Switch the unit off for five minutes and restart it.",
    "Clean the filter and let it dry before refitting.",
    "Check that nothing blocks the outdoor unit.",
    "Make sure the drain pump filter is free of coins and buttons.",
    "Level the appliance with its adjustable feet.",
    "Book a technician visit through customer service.",
]
TYPES = ["solution"] * 5 + ["faq"] * 3 + ["reply_template", "spare_part_standard", "policy"]


def _article_text(rng: random.Random) -> dict[str, Any]:
    product = rng.choice(list(PRODUCTS))
    english_product, models = PRODUCTS[product]
    model = rng.choice(models)
    kind = rng.choice(TYPES)
    if kind == "policy":
        title, first = rng.choice(POLICIES)
        title = f"{product}{title}"
        symptom, english_symptom = "", ""
    elif rng.random() < 0.3:
        code, meaning = rng.choice(CODES[product])
        title = f"{product}显示{code}故障码：{meaning}"
        first = f"{model} 显示 {code} 表示{meaning}。"
        symptom, english_symptom = f"显示{code}", f"error {code}"
    else:
        symptom, english_symptom = rng.choice(SYMPTOMS[product])
        title = rng.choice(
            [f"{product}{symptom}怎么办", f"{model} {symptom}排查", f"{product}{symptom}的原因"]
        )
        first = f"用户反映{product}{symptom}。"
    sentences = [first]
    for _ in range(rng.randint(3, 8)):
        sentences.append(
            rng.choice(
                [
                    f"常见原因是{rng.choice(CAUSES)}。",
                    f"请{rng.choice(ACTIONS)}。",
                    f"如果仍然{symptom or '有问题'}，{rng.choice(ACTIONS)}。",
                    f"保修期内{rng.choice(['免费维修', '免收人工费', '配件免费更换'])}。",
                    f"{model} 的{rng.choice(['主板', '压缩机', '排水泵', '门封条', '传感器'])}"
                    f"属于易损件，更换前拍照留存。",
                ]
            )
        )
    english = None
    if rng.random() < 0.12:
        english_title = f"{english_product.capitalize()} {english_symptom or 'policy'}".strip()
        english = (
            english_title,
            " ".join(rng.sample(ENGLISH_ACTIONS, 3)) + f" Model {model}.",
        )
    return {
        "type": kind,
        "audience": "public" if rng.random() < 0.7 else "internal",
        "title": title,
        "body": "".join(sentences),
        "summary": first,
        "keywords": f"{product},{symptom}" if symptom else product,
        "english": english,
        "hant": rng.random() < 0.08,
    }


QUERIES_ZH = [
    "空调不制冷",
    "空调不冷",
    "制冷效果差",
    "冰箱结霜",
    "洗衣机不排水",
    "洗衣机门锁打不开",
    "热水器不点火",
    "热水器不加热怎么办",
    "空调 E1",
    "E21 故障码",
    "热水器显示E3",
    "三包退换货",
    "保修期多久",
    "以旧换新补贴",
    "安装收费",
    "延保",
    "压缩机噪音",
    "排水泵堵塞",
    "门封条老化",
    "滤网清洗",
    "冷媒不足",
    "漏电保护跳闸",
    "空调漏水",
    "冰箱有异味",
    "KFR-35GW 噪音大",
    "BCD-468 不制冷",
    "发票丢了能保修吗",
    "电视机黑屏",
]
QUERIES_HANT = ["空調不製冷", "熱水器不點火", "洗衣機不排水", "冰箱結霜", "三包退換貨"]
QUERIES_EN = [
    "air conditioner not cooling",
    "washing machine not draining",
    "water heater error E1",
    "refrigerator compressor noise",
    "door lock stuck",
    "leaking water",
    "clean the filter",
    "air conditoner not coolng",
    "refrigerater noize",
    "washing machne vibraton",
    "technician visit",
    "dishwasher",
]
SYNONYMS = [
    "不制冷\n不冷\n制冷效果差\n不够凉",
    "漏水\n滴水\n渗水",
    "噪音大\n声音大\n异响",
    "三包\n保修\n质保",
    "not cooling\nweak cooling\nno cold air",
]


def build_corpus(count: int, seed: int) -> dict[str, Any]:
    """Write `count` live articles straight to the tables, then index them all."""
    import zhconv
    from django.db import transaction

    from aftercare.accounts.models import User
    from aftercare.kb import search, services
    from aftercare.kb.models import Article, ArticleVariant, ArticleVersion

    rng = random.Random(seed)
    author, _ = User.objects.get_or_create(
        username="kb-bench-lead", defaults={"role": "team_lead", "display_name": "主管"}
    )
    started = time.perf_counter()
    with transaction.atomic():
        for start in range(0, count, 1000):
            texts = [_article_text(rng) for _ in range(min(1000, count - start))]
            articles = Article.objects.bulk_create(
                [
                    Article(
                        type=t["type"],
                        audience=t["audience"],
                        status="published",
                        created_by=author,
                        published_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
                    )
                    for t in texts
                ]
            )
            pending = []
            for article, t in zip(articles, texts, strict=True):
                pending.append((article, "zh-hans", t["title"], t["summary"], t["body"], t))
                if t["hant"]:
                    pending.append(
                        (
                            article,
                            "zh-hant",
                            zhconv.convert(t["title"], "zh-hant"),
                            zhconv.convert(t["summary"], "zh-hant"),
                            zhconv.convert(t["body"], "zh-hant"),
                            t,
                        )
                    )
                if t["english"]:
                    pending.append((article, "en", t["english"][0], "", t["english"][1], t))
            variants = ArticleVariant.objects.bulk_create(
                [ArticleVariant(article=a, language=lang) for a, lang, *_ in pending]
            )
            versions = ArticleVersion.objects.bulk_create(
                [
                    ArticleVersion(
                        variant=v,
                        number=1,
                        title=title,
                        summary=summary,
                        body=body,
                        keywords=t["keywords"] if lang != "en" else "",
                        created_by=author,
                    )
                    for v, (_, lang, title, summary, body, t) in zip(variants, pending, strict=True)
                ]
            )
            for variant, version in zip(variants, versions, strict=True):
                variant.latest_version = version
                variant.published_version = version
            ArticleVariant.objects.bulk_update(
                variants, ["latest_version", "published_version"], batch_size=1000
            )
        for phrases in SYNONYMS:
            services.create_synonym_group(actor=author, phrases=phrases)
    written = time.perf_counter() - started
    started = time.perf_counter()
    documents = search.rebuild_index()
    indexed = time.perf_counter() - started
    return {
        "articles": count,
        "documents": documents,
        "write_seconds": round(written, 1),
        "index_seconds": round(indexed, 1),
        "index_rate_per_s": round(documents / indexed),
    }


def query_mix(rng: random.Random, n: int) -> list[tuple[str, str]]:
    pool = (
        [(q, "zh-hans") for q in QUERIES_ZH] * 3
        + [(q, "zh-hant") for q in QUERIES_HANT] * 2
        + [(q, "en") for q in QUERIES_EN] * 2
    )
    return [rng.choice(pool) for _ in range(n)]


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 2)

    return {
        "n": len(ordered),
        "p50_ms": at(0.50),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
    }


def measure(queries: int, seed: int) -> dict[str, Any]:
    from django.contrib.auth.models import AnonymousUser
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from aftercare.accounts.models import User
    from aftercare.accounts.services import create_api_token
    from aftercare.kb import selectors

    agent, _ = User.objects.get_or_create(
        username="kb-bench-agent", defaults={"role": "agent", "display_name": "客服"}
    )
    _, raw = create_api_token(user=agent, name="bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    mix = query_mix(random.Random(seed), queries)
    readers = {"customer": AnonymousUser(), "agent": agent}
    # Warm-up: jieba's dictionary, zhconv's tables, the connection.
    for text, language in mix[:20]:
        selectors.search_articles(agent, text, language=language)
        client.get("/api/v1/kb/search", {"q": text, "language": language})
    results: dict[str, Any] = {}
    samples: dict[str, list] = {}
    for name, user in readers.items():
        timings, hits = [], []
        for text, language in mix:
            started = time.perf_counter()
            rows, _ = selectors.search_articles(user, text, language=language)
            timings.append((time.perf_counter() - started) * 1000)
            hits.append(len(rows))
        results[f"search_{name}"] = {**percentiles(timings), "empty": hits.count(0)}
        slowest = sorted(zip(timings, mix, strict=True), reverse=True)[:5]
        samples[name] = [
            {"query": q, "language": lang, "ms": round(ms, 1)} for ms, (q, lang) in slowest
        ]
    timings = []
    for text, language in mix:
        started = time.perf_counter()
        response = client.get("/api/v1/kb/search", {"q": text, "language": language})
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:300]
    results["api_agent"] = percentiles(timings)
    with CaptureQueriesContext(connection) as captured:
        selectors.search_articles(agent, "空调不制冷", language="zh-hans")
    results["sql_queries_per_search"] = len(captured)
    results["slowest"] = samples
    examples = {}
    for text, language in [
        ("空调不制冷", "zh-hans"),
        ("air conditoner not coolng", "en"),
        ("空調不製冷", "zh-hant"),
    ]:
        rows, outcome = selectors.search_articles(agent, text, language=language, limit=3)
        examples[text] = {
            "corrections": outcome.corrections,
            "synonyms": outcome.synonyms,
            "top": [f"{r.variant.language} {r.version.title}" for r in rows],
        }
    results["examples"] = examples
    return results


def child(target: str, args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from aftercare.kb.models import Article

    call_command("migrate", "--noinput", verbosity=0)
    out: dict[str, Any] = {"target": target}
    if not Article.objects.exists():
        out["build"] = build_corpus(args.articles, args.seed)
        with connection.cursor() as cursor:
            # As autovacuum would have by now: on PostgreSQL the visibility map lets ranking
            # read the postings from the covering index alone.
            cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    from aftercare.kb.models import SearchPosting, SearchTerm

    out["index"] = {
        "articles": Article.objects.count(),
        "postings": SearchPosting.objects.count(),
        "terms": SearchTerm.objects.count(),
    }
    out.update(measure(args.queries, args.seed))
    print("RESULT " + json.dumps(out, ensure_ascii=False))


def prepare_database(target: str, args) -> dict[str, str]:
    env = dict(os.environ)
    if target == "postgres":
        import psycopg

        if not args.reuse:
            with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_db}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{args.pg_db}"')
        url = f"postgres://postgres@127.0.0.1:5432/{args.pg_db}"
    else:
        path = Path(args.sqlite_path)
        if not args.reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path.resolve()}"
    env.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_SECRET_KEY="bench",
        DJANGO_ALLOWED_HOSTS="testserver",
        AFTERCARE_VAR_DIR=str(Path(args.sqlite_path).parent),
        DB_CONN_MAX_AGE="60",
        PYTHONUNBUFFERED="1",
    )
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--sqlite-path", default=str(REPO_DIR / "var" / "bench" / "kb.sqlite3"))
    parser.add_argument("--pg-db", default="bench_kb")
    parser.add_argument("--child", choices=TARGETS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(REPO_DIR))
        child(args.child, args)
        return
    sys.path.insert(0, str(BENCH_DIR))
    from intake import git_info, machine_info

    report: dict[str, Any] = {
        "machine": machine_info(),
        "git": git_info(),
        "goal_p95_ms": GOAL_P95_MS,
        "command": "python bench/kb_search.py " + " ".join(sys.argv[1:]),
        "targets": {},
    }
    for target in args.targets.split(","):
        print(f"[{target}] preparing", flush=True)
        env = prepare_database(target, args)
        cmd = [sys.executable, __file__, "--child", target, *sys.argv[1:]]
        done = subprocess.run(cmd, cwd=REPO_DIR, env=env, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"[{target}] failed:\n{done.stderr[-4000:]}")
        line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
        report["targets"][target] = json.loads(line.removeprefix("RESULT "))
        print(f"[{target}] done", flush=True)
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    print()
    print("| database | reader | p50 ms | p95 ms | max ms | goal p95 ≤ 50 ms |")
    print("|---|---|---|---|---|---|")
    for target, result in report["targets"].items():
        for key in ("search_customer", "search_agent", "api_agent"):
            r = result[key]
            met = "met" if r["p95_ms"] <= GOAL_P95_MS else "missed"
            print(f"| {target} | {key} | {r['p50_ms']} | {r['p95_ms']} | {r['max_ms']} | {met} |")
    for target, result in report["targets"].items():
        print(f"\n{target}: {json.dumps(result.get('build', {}), ensure_ascii=False)}")
        print(
            f"{target}: {json.dumps(result['index'])}, "
            f"{result['sql_queries_per_search']} SQL queries per search"
        )
    print(f"\nwrote {RESULTS_PATH.relative_to(REPO_DIR)}")


if __name__ == "__main__":
    main()
