#!/usr/bin/env python3
"""Checks CloudWatch Embedded Metric Format lines with AWS's own EMF library.

Reads one document per line on stdin (what `coinlake::metrics` writes to stdout). For each,
rebuilds the same metrics with `aws_embedded_metrics` (awslabs/aws-embedded-metrics-python,
the library AWS publishes for writing EMF): its validators check the namespace, the
dimension set, every metric's name, value and unit and the timestamp against CloudWatch's
rules, and its LogSerializer writes the document CloudWatch expects. The line passes when
it is exactly that document.

Exit status 0 when every line passes; 1 with one "line N: reason" per failure on stderr.

    scripts/emf_check.py < lines.jsonl
"""

import json
import sys
from datetime import datetime, timezone

try:
    from aws_embedded_metrics import validator
    from aws_embedded_metrics.logger.metrics_context import MetricsContext
    from aws_embedded_metrics.serializers.log_serializer import LogSerializer
except ImportError as error:  # pragma: no cover - an environment problem, said plainly
    sys.exit(f"aws-embedded-metrics is not installed ({error}): run scripts/setup.sh (requirements-dev.txt)")


def check(line):
    """The reason `line` is not a valid EMF document, or None."""
    try:
        document = json.loads(line)
    except json.JSONDecodeError as error:
        return f"not JSON: {error}"
    if not isinstance(document, dict):
        return "not a JSON object"
    meta = document.get("_aws")
    if not isinstance(meta, dict) or set(meta) != {"Timestamp", "CloudWatchMetrics"}:
        return f"_aws must hold exactly Timestamp and CloudWatchMetrics, not {meta!r}"
    directives = meta["CloudWatchMetrics"]
    if not isinstance(directives, list) or len(directives) != 1:
        return f"expected one MetricDirective, got {directives!r}"
    directive = directives[0]
    if set(directive) != {"Namespace", "Dimensions", "Metrics"}:
        return f"a MetricDirective holds Namespace, Dimensions and Metrics, not {sorted(directive)}"

    context = MetricsContext()
    try:
        validator.validate_namespace(directive["Namespace"])
        context.namespace = directive["Namespace"]
        dimension_sets = []
        for keys in directive["Dimensions"]:
            missing = [k for k in keys if not isinstance(document.get(k), str)]
            if missing:
                return f"dimension targets missing or not strings: {missing}"
            dimension_sets.append({k: document[k] for k in keys})
        context.set_dimensions(dimension_sets, use_default=False)
        named = set()
        for metric in directive["Metrics"]:
            name = metric["Name"]
            if set(metric) - {"Name", "Unit"}:
                return f"metric {name}: unexpected members {sorted(metric)}"
            value = document.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"metric {name}: its target is {value!r}, not a number"
            context.put_metric(name, value, metric.get("Unit"))
            named.add(name)
        timestamp = meta["Timestamp"]
        if not isinstance(timestamp, int):
            return f"Timestamp {timestamp!r} is not whole milliseconds"
        validator.validate_timestamp(datetime.fromtimestamp(timestamp / 1000, tz=timezone.utc))
        context.meta["Timestamp"] = timestamp
        dimension_keys = {k for keys in directive["Dimensions"] for k in keys}
        for key, value in document.items():
            if key != "_aws" and key not in named and key not in dimension_keys:
                context.set_property(key, value)
    except Exception as error:  # the library's validators raise their own error types
        return f"{type(error).__name__}: {error}"

    serialized = LogSerializer.serialize(context)
    if len(serialized) != 1:
        return f"AWS's serializer splits it into {len(serialized)} documents"
    expected = json.loads(serialized[0])
    if expected != document:
        return f"differs from what AWS's serializer writes: {serialized[0]}"
    return None


def main():
    failures = 0
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        reason = check(line)
        if reason:
            failures += 1
            print(f"line {number}: {reason}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
