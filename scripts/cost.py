#!/usr/bin/env python3
"""Monthly cost of coinlake from measured figures (scripts/bench.sh passes them).

Formula (a 30-day month, one run per schedule period):

  runs            = 30 * 24 * 60 / period_minutes
  lambda compute  = runs * sum over functions of
                      ceil(init_ms * cold_share + duration_ms) / 1000 * memory_MB / 1024
                      * price per GB-second of the architecture
  lambda requests = runs * 2 * price per request
  scheduler       = runs * price per invocation (the first 14 million a month are free)
  s3 requests     = runs * (PUT + GET price)  (ingest writes one object, load reads it)
  s3 storage      = runs * object bytes / 2**30 * price per GB-month  (added each month)
  athena          = queries * max(bytes scanned, 10 MB) / 2**40 * price per TB
  compaction      = 30 daily runs: compute (init + duration at its memory), one LIST, a GET
                    per raw object and two PUTs, plus the curated bytes added each day; and
                    one invocation per raw object's notification (answered without S3)
  klines          = runs more slot runs (compute at the klines memory, one PUT, the
                    object's bytes stored) and runs more loads (compute at the load memory
                    with load's init, one GET), two requests each run; Binance's market
                    data is free and the second schedule stays in the Scheduler's free tier

Init is billed for every runtime since August 2025; `cold_share` is the fraction of runs
that start a new execution environment (1.0 is the worst case: every run cold).

Prices: us-east-1 list prices, as published when this was written; check
https://aws.amazon.com/lambda/pricing/ and the S3, EventBridge and Athena pricing pages.
Free tiers are not subtracted, except the Scheduler's, which every account has.
"""

import argparse
import math

GB_SECOND = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
LAMBDA_REQUEST = 0.20 / 1_000_000
SCHEDULER_INVOCATION = 1.00 / 1_000_000
SCHEDULER_FREE = 14_000_000
S3_PUT = 0.005 / 1000
S3_GET = 0.0004 / 1000
S3_GB_MONTH = 0.023
ATHENA_TB = 5.00
ATHENA_MIN_BYTES = 10 * 1024 * 1024


def lambda_compute(runs, init_ms, duration_ms, memory_mb, arch, cold_share):
    billed_ms = math.ceil(init_ms * cold_share + duration_ms)
    return runs * billed_ms / 1000 * memory_mb / 1024 * GB_SECOND[arch]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--period-minutes", type=float, default=5)
    p.add_argument("--arch", choices=sorted(GB_SECOND), default="arm64")
    p.add_argument("--ingest-ms", type=float, required=True, help="warm duration of one ingest run")
    p.add_argument("--ingest-init-ms", type=float, required=True, help="ingest cold start")
    p.add_argument("--ingest-mb", type=int, default=128, help="ingest memory size (template.yaml)")
    p.add_argument("--load-ms", type=float, required=True, help="warm duration of one load")
    p.add_argument("--load-init-ms", type=float, required=True, help="load cold start")
    p.add_argument("--load-mb", type=int, default=256, help="load memory size (template.yaml)")
    p.add_argument("--object-bytes", type=int, required=True, help="size of one snapshot object")
    p.add_argument("--cold-share", type=float, default=1.0)
    p.add_argument("--athena-queries", type=int, default=300, help="queries a month")
    p.add_argument("--athena-scan-bytes", type=int, default=0, help="bytes one query scans")
    p.add_argument("--compact-ms", type=float, help="one day's compaction (omit: no compact function)")
    p.add_argument("--compact-init-ms", type=float, default=0.0, help="compact cold start")
    p.add_argument("--compact-mb", type=int, default=512, help="compact memory size (template.yaml)")
    p.add_argument("--notification-ms", type=float, default=0.0, help="compact answering one raw object's notification")
    p.add_argument("--curated-bytes", type=int, default=0, help="a day's silver + gold files")
    p.add_argument("--raw-objects", type=int, default=288, help="raw objects a day")
    p.add_argument("--klines-ms", type=float, help="one klines slot run (omit: no klines function)")
    p.add_argument("--klines-init-ms", type=float, default=0.0, help="klines cold start")
    p.add_argument("--klines-mb", type=int, default=256, help="klines memory size (template.yaml)")
    p.add_argument("--klines-load-ms", type=float, default=0.0, help="load of one klines slot object")
    p.add_argument("--klines-object-bytes", type=int, default=0, help="size of one klines slot object")
    a = p.parse_args()

    runs = 30 * 24 * 60 / a.period_minutes
    lines = [
        ("Lambda compute, ingest", lambda_compute(runs, a.ingest_init_ms, a.ingest_ms, a.ingest_mb, a.arch, a.cold_share)),
        ("Lambda compute, load", lambda_compute(runs, a.load_init_ms, a.load_ms, a.load_mb, a.arch, a.cold_share)),
        ("Lambda requests", runs * 2 * LAMBDA_REQUEST),
        ("EventBridge Scheduler", max(0.0, runs - SCHEDULER_FREE) * SCHEDULER_INVOCATION),
        ("S3 requests (PUT + GET)", runs * (S3_PUT + S3_GET)),
        ("S3 storage added this month", runs * a.object_bytes / 2**30 * S3_GB_MONTH),
        ("Athena", a.athena_queries * max(a.athena_scan_bytes, ATHENA_MIN_BYTES) / 2**40 * ATHENA_TB),
    ]
    if a.compact_ms is not None:
        days = 30
        notifications = runs
        lines += [
            ("Lambda compute, compact", lambda_compute(days, a.compact_init_ms, a.compact_ms, a.compact_mb, a.arch, 1.0)),
            ("Lambda compute, notifications", lambda_compute(notifications, 0.0, a.notification_ms, a.compact_mb, a.arch, 0.0)),
            ("Lambda requests, compact", (days + notifications) * LAMBDA_REQUEST),
            ("S3 requests, compact", days * (S3_PUT * 3 + S3_GET * a.raw_objects)),
            ("S3 storage added, curated", days * a.curated_bytes / 2**30 * S3_GB_MONTH),
        ]
    if a.klines_ms is not None:
        lines += [
            ("Lambda compute, klines", lambda_compute(runs, a.klines_init_ms, a.klines_ms, a.klines_mb, a.arch, a.cold_share)),
            ("Lambda compute, klines loads", lambda_compute(runs, a.load_init_ms, a.klines_load_ms, a.load_mb, a.arch, a.cold_share)),
            ("Lambda requests, klines", runs * 2 * LAMBDA_REQUEST),
            ("S3 requests, klines", runs * (S3_PUT + S3_GET)),
            ("S3 storage added, klines", runs * a.klines_object_bytes / 2**30 * S3_GB_MONTH),
        ]
    print(f"{int(runs)} runs a month, {a.arch}, cold share {a.cold_share:g}")
    for name, dollars in lines:
        print(f"  {name:<30} ${dollars:.4f}")
    print(f"  {'total':<30} ${sum(d for _, d in lines):.4f}")


if __name__ == "__main__":
    main()
