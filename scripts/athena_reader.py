"""Reads the bucket the way Athena does, then runs template.yaml's views and named queries.

Athena reads `quotes_csv` with Hive's OpenCSVSerde (engine v3's Trino reader is a
bug-for-bug port of it), and its escape rules are exactly where a generic CSV reader
(DuckDB's included) differs: with `escapeChar` `"` the SerDe hands opencsv a BACKSLASH
escape, which drops or swallows backslashes. So the read is done by the real SerDe:
Spark with Hive support (pyspark from PyPI ships hive-serde 2.3 and opencsv 2.3) creates
each external table of the template (Glue tables) with its SerDe, SerDe parameters,
input/output formats, columns, partition keys and table parameters, adds the partitions
that the template's partition projection would compute for the directories found under
DATA (a copy of the bucket), and selects every row. Spark's Hive scan ignores
`skip.header.line.count` (Hive's record reader applies it), so the script drops that many
lines from the start of each CSV file itself, checking they are the header.

The curated Parquet tables (`quotes_curated`, `ohlc_1d`) are read by Spark's own Parquet
reader over the same table definition, not by Hive 2.3's ParquetHiveSerDe, which cannot
read INT64 timestamps at all (LongWritable cannot be cast to TimestampWritable). Athena
does not use that SerDe either: engine 3 reads Parquet with Trino's reader, by column
name, and takes Parquet's own timestamp types for TIMESTAMP columns (Athena User Guide,
"Work with timestamp data"). Spark's reader matches by name too and refuses a column whose
Parquet type the table's type cannot hold. Each Parquet file is also checked against the
table: its columns in the table's order, timestamps INT64 milliseconds adjusted to UTC,
bigint INT64, double DOUBLE, string UTF-8, every column chunk ZSTD.

The views and the named queries then run in DuckDB over exactly those rows (loaded into
tables of the template's names and columns). Spark SQL is further from Athena's (Trino's)
dialect: it has no UNNEST, so the missing-slots query would need rewriting, while the
DuckDB mapping below is small and mechanical:

  current_date       -> DATE '<day of --at>'   (a fixed time, for repeatable results)
  current_timestamp  -> TIMESTAMP '<--at>'
  sequence(          -> generate_series(        (Trino's and DuckDB's names)

Athena's hidden column "$path" (the object a row came from) is a column of that name in
every CSV table, holding the file's path under DATA: keys sort alike either way.

Each --at sees the bucket as it was then: the CSV rows of slots up to that moment (klines
whose minute has closed), and the
curated days compact had written by then (a day at 00:20 the next day). The views are the
named queries that CREATE OR REPLACE VIEW, run in the order of their names. Every other
query runs twice: as written, and with `quotes` replaced by `quotes_raw` (every CSV row):
the two must answer alike; and `quotes` must hold, day by day, as many rows as `quotes_raw`
holds distinct updates. The view `quotes` is also run over one synthetic row per day
and source around each --at, which shows which days it takes from which table.

Prints JSON: {"escape_char": …, "tables": {"<table>": {"rows": [{"file", "year", "month",
"day", "fields"}], "unprojected": [directories no projected partition covers]}},
"parquet_problems": […], "queries": {"<--at>": {"<query name>": [[column, …], …]}},
"raw_only_queries": (the same, over quotes_raw), "rows_per_day": {"<--at>": {"quotes":
[[day, rows]], "quotes_raw": [[day, distinct updates]]}}, "window": {"<--at>": {"from",
"to", "curated": [days], "raw": [days]}}}; values as text, NULL as null.

usage: athena_reader.py --template template.yaml --data DIR --at '2024-06-01 12:47:00' [--at …]
"""

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import tempfile

import duckdb
import pyarrow.parquet as pq
import yaml

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
DUCKDB_TYPES = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "double": "DOUBLE",
    "timestamp": "TIMESTAMP",
}


class CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, …) as plain values."""


def _any_tag(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


CloudFormationLoader.add_multi_constructor("!", _any_tag)


def load_template(path):
    """The Glue tables (TableInput, by table name) and the named queries (by name)."""
    with open(path) as f:
        resources = yaml.load(f, Loader=CloudFormationLoader)["Resources"]
    tables = {
        r["Properties"]["TableInput"]["Name"]: r["Properties"]["TableInput"]
        for r in resources.values()
        if r["Type"] == "AWS::Glue::Table"
    }
    queries = {
        r["Properties"]["Name"]: r["Properties"]["QueryString"]
        for r in resources.values()
        if r["Type"] == "AWS::Athena::NamedQuery"
    }
    return tables, queries


def is_parquet(table):
    return table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == PARQUET_SERDE


def literal(text: str) -> str:
    """A Spark SQL string literal holding exactly `text` (\\uXXXX for anything unusual)."""
    safe = "".join(
        c if c.isascii() and (c.isalnum() or c in " ._-/:=,$!{}") else f"\\u{ord(c):04x}"
        for c in text
    )
    return f"'{safe}'"


def relative(location):
    """s3://<bucket>/<key>: the bucket is a template value, the keys are the data's."""
    return re.sub(r"^s3://[^/]+/", "", location)


def projected_partitions(table, data):
    """The partitions Athena's projection computes that exist under DATA, and the
    directories holding the table's files that it never computes (so Athena never reads
    them).

    Projection renders `storage.location.template` for every integer in each key's
    `range`, zero-padded to `digits`; a directory is read only if one rendering names it.
    """
    params = table["Parameters"]
    assert params.get("projection.enabled") == "true", "the table uses partition projection"
    keys = [p["Name"] for p in table["PartitionKeys"]]
    pattern = re.escape(relative(params["storage.location.template"]))
    for key in keys:
        assert params[f"projection.{key}.type"] == "integer", key
        pattern = pattern.replace(re.escape(f"${{!{key}}}"), f"(?P<{key}>[^/]+)")
    pattern = re.compile(pattern + "$")
    prefix = relative(table["StorageDescriptor"]["Location"])
    suffix = ".parquet" if is_parquet(table) else ".csv"

    found, unprojected = [], []
    for root, _dirs, files in os.walk(data):
        if not any(f.endswith(suffix) for f in files):
            continue
        rel = os.path.relpath(root, data).replace(os.sep, "/") + "/"
        if not rel.startswith(prefix):
            continue
        match = pattern.match(rel)
        values = {}
        if match:
            for key in keys:
                low, high = (int(v) for v in params[f"projection.{key}.range"].split(","))
                digits = int(params.get(f"projection.{key}.digits", "1"))
                text = match.group(key)
                value = int(text) if text.isdigit() else None
                if value is None or not low <= value <= high or f"{value:0{digits}d}" != text:
                    break
                values[key] = value
        if len(values) == len(keys):
            found.append((values, root))
        else:
            unprojected.append(rel)
    return sorted(found, key=lambda f: f[1]), sorted(unprojected)


def spark_session(work):
    from pyspark.sql import SparkSession

    metastore = os.path.join(work, "metastore_db")
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("coinlake-athena-reader")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", os.path.join(work, "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={work}")
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={metastore};create=true",
        )
        .enableHiveSupport()
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def read_table(spark, table, data):
    """Every row of one table as its reader returns it, with its file and partition:
    CSV fields as the SerDe's strings, Parquet values typed (timestamps as UTC text)."""
    storage = table["StorageDescriptor"]
    serde = storage["SerdeInfo"]
    columns = ", ".join(f"`{c['Name']}` {c['Type']}" for c in storage["Columns"])
    partitions = ", ".join(f"`{p['Name']}` {p['Type']}" for p in table["PartitionKeys"])
    serde_params = serde.get("Parameters", {})
    with_serde_params = (
        f"WITH SERDEPROPERTIES ({', '.join(f'{literal(k)} = {literal(v)}' for k, v in serde_params.items())})"
        if serde_params
        else ""
    )
    table_params = ", ".join(
        f"{literal(k)} = {literal(v)}" for k, v in table["Parameters"].items()
    )
    name = table["Name"]
    spark.sql(
        f"""
        CREATE EXTERNAL TABLE `{name}` ({columns})
        PARTITIONED BY ({partitions})
        ROW FORMAT SERDE {literal(serde["SerializationLibrary"])}
        {with_serde_params}
        STORED AS INPUTFORMAT {literal(storage["InputFormat"])}
                  OUTPUTFORMAT {literal(storage["OutputFormat"])}
        LOCATION {literal(os.path.join(data, relative(storage["Location"])))}
        TBLPROPERTIES ({table_params})
        """
    )
    found, unprojected = projected_partitions(table, data)
    for values, directory in found:
        spec = ", ".join(f"`{k}` = {v}" for k, v in values.items())
        spark.sql(f"ALTER TABLE `{name}` ADD PARTITION ({spec}) LOCATION {literal(directory)}")
    plan = spark.sql(f"EXPLAIN SELECT * FROM `{name}`").collect()[0][0]
    if is_parquet(table):
        # Spark's Parquet reader over the table's schema (see the module's docstring).
        assert "FileScan parquet" in plan and f"default.{name}" in plan, plan
    else:
        # The reader under test must be the Hive SerDe, not Spark's own CSV source.
        assert "Scan hive" in plan and serde["SerializationLibrary"] in plan, plan

    names = [c["Name"] for c in storage["Columns"]]
    keys = [p["Name"] for p in table["PartitionKeys"]]
    selected = ", ".join(
        f"CAST(`{c['Name']}` AS STRING) AS `{c['Name']}`"
        if c["Type"] == "timestamp"
        else f"`{c['Name']}`"
        for c in storage["Columns"]
    )
    selected += "".join(f", `{k}`" for k in keys)
    rows = spark.sql(f"SELECT input_file_name() AS file, {selected} FROM `{name}`").collect()
    # Hive's record reader applies `skip.header.line.count`; Spark's Hive scan does not,
    # so that many lines are dropped here from the start of each file, in read order
    # (one local task reads each file front to back), and checked to be the header.
    skip = int(table["Parameters"].get("skip.header.line.count", "0"))
    seen = {}
    out = []
    for row in rows:
        file = row["file"].removeprefix("file://").removeprefix("file:")
        seen[file] = seen.get(file, 0) + 1
        if seen[file] <= skip:
            assert [row[c] for c in names] == names, f"{file} does not start with the header"
            continue
        out.append(
            {
                "file": os.path.relpath(file, data).replace(os.sep, "/"),
                **{k: row[k] for k in keys},
                "fields": [row[c] for c in names],
            }
        )
    out.sort(key=lambda r: r["file"])
    return out, unprojected


def read_tables(tables, data, work):
    spark = spark_session(work)
    try:
        return {name: read_table(spark, table, data) for name, table in tables.items()}
    finally:
        spark.stop()


def parquet_problems(table, data, files):
    """How each Parquet file differs from what the table and compact's contract expect."""
    expected = {
        "timestamp": ("INT64", {"Type": "Timestamp", "isAdjustedToUTC": True, "timeUnit": "milliseconds"}),
        "bigint": ("INT64", None),
        "double": ("DOUBLE", None),
        "string": ("BYTE_ARRAY", {"Type": "String"}),
    }
    problems = []
    for file in sorted(files):
        meta = pq.ParquetFile(os.path.join(data, file)).metadata
        columns = [meta.schema.column(i) for i in range(meta.num_columns)]
        names = [c.name for c in columns]
        wanted = [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
        if names != wanted:
            problems.append(f"{file}: columns {names}, the table has {wanted}")
            continue
        for column, declared in zip(columns, table["StorageDescriptor"]["Columns"]):
            physical, logical = expected[declared["Type"]]
            got = json.loads(column.logical_type.to_json())
            if logical is None:
                fits = got.get("Type") == "None" or (
                    got.get("Type") == "Int" and got.get("bitWidth") == 64 and got.get("isSigned")
                )
            else:
                fits = {k: got.get(k) for k in logical} == logical
            if column.physical_type != physical or not fits:
                problems.append(
                    f"{file}: {column.name} is {column.physical_type} {got}, "
                    f"the table's {declared['Type']} needs {physical} {logical}"
                )
        for group in range(meta.num_row_groups):
            for i in range(meta.num_columns):
                codec = meta.row_group(group).column(i).compression
                if codec != "ZSTD":
                    problems.append(f"{file}: {names[i]} is {codec}, not ZSTD")
    return problems


def dialect(sql: str, at: str) -> str:
    sql = re.sub(r"\bcurrent_date\b", f"DATE '{at[:10]}'", sql)
    sql = re.sub(r"\bcurrent_timestamp\b", f"TIMESTAMP '{at}'", sql)
    return re.sub(r"\bsequence\(", "generate_series(", sql)


def text(value):
    return None if value is None else str(value)


def create_tables(db, tables, suffix=""):
    for name, table in tables.items():
        columns = [
            f'"{c["Name"]}" {DUCKDB_TYPES[c["Type"]] if is_parquet(table) else "VARCHAR"}'
            for c in table["StorageDescriptor"]["Columns"]
        ]
        columns += [f'"{p["Name"]}" {DUCKDB_TYPES[p["Type"]]}' for p in table["PartitionKeys"]]
        if not is_parquet(table):
            columns.append('"$path" VARCHAR')
        db.execute(f"CREATE TABLE {name}{suffix} ({', '.join(columns)})")


def insert(db, name, table, rows):
    if not rows:
        return
    keys = [p["Name"] for p in table["PartitionKeys"]]
    path = [] if is_parquet(table) else ["file"]
    width = len(table["StorageDescriptor"]["Columns"]) + len(keys) + len(path)
    db.executemany(
        f"INSERT INTO {name} VALUES ({', '.join('?' * width)})",
        [r["fields"] + [r[k] for k in keys + path] for r in rows],
    )


def views_and_queries(queries):
    views = [sql for _, sql in sorted(queries.items()) if sql.startswith("CREATE OR REPLACE VIEW")]
    others = {name: sql for name, sql in queries.items() if sql not in views}
    return views, others


def run_queries(tables, queries, read, times):
    """Every query at every moment, over what the bucket held then: as written, and with
    `quotes` replaced by `quotes_raw`."""
    db = duckdb.connect()
    create_tables(db, tables, "_all")
    for name, table in tables.items():
        insert(db, f"{name}_all", table, read[name][0])
    views, others = views_and_queries(queries)
    results, raw_only, per_day = {}, {}, {}
    for at in times:
        for name, table in tables.items():
            if is_parquet(table):
                # compact writes a day at 00:20 the next day.
                visible = (
                    "make_date(year, month, day) + INTERVAL 1 DAY + INTERVAL 20 MINUTE"
                    f" <= TIMESTAMP '{at}'"
                )
            elif name == "klines_csv":
                visible = f"CAST(close_time AS TIMESTAMP) <= TIMESTAMP '{at}'"
            else:
                visible = f"CAST(slot_at AS TIMESTAMP) <= TIMESTAMP '{at}'"
            db.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_all WHERE {visible}")
        for view in views:
            db.execute(dialect(view, at))
        per_day[at] = {
            source: [
                [str(d), n]
                for d, n in db.execute(
                    f"SELECT make_date(year, month, day) AS d, {count} FROM {source}"
                    " GROUP BY d ORDER BY d"
                ).fetchall()
            ]
            for source, count in [
                ("quotes", "count(*)"),
                ("quotes_raw", "count(DISTINCT (cmc_id, quote_currency, last_updated))"),
            ]
        }
        results[at], raw_only[at] = {}, {}
        for name, sql in others.items():
            cursor = db.execute(dialect(sql, at))
            results[at][name] = [[text(v) for v in row] for row in cursor.fetchall()]
            raw_sql = re.sub(r"\bquotes\b", "quotes_raw", sql)
            cursor = db.execute(dialect(raw_sql, at))
            raw_only[at][name] = [[text(v) for v in row] for row in cursor.fetchall()]
    return results, raw_only, per_day


def window(tables, queries, times):
    """For each moment, the days the view `quotes` takes from quotes_curated and from the
    CSV, over one row per day in each (40 days before the moment to the day after it)."""
    views, _ = views_and_queries(queries)
    out = {}
    for at in times:
        db = duckdb.connect()
        create_tables(db, {n: t for n, t in tables.items() if n in ("quotes_csv", "quotes_curated")})
        today = dt.date.fromisoformat(at[:10])
        first, last = today - dt.timedelta(days=40), today + dt.timedelta(days=1)
        day = first
        while day <= last:
            stamp = f"{day} 00:05:00.000"
            raw = {c["Name"]: "" for c in tables["quotes_csv"]["StorageDescriptor"]["Columns"]}
            raw.update(
                slot_at=stamp, cmc_id="2", symbol="RAW", quote_currency="USD", price="1",
                last_updated=stamp, ingested_at=stamp,
            )
            db.execute(
                "INSERT INTO quotes_csv VALUES (" + ", ".join("?" * (len(raw) + 4)) + ")",
                [*raw.values(), day.year, day.month, day.day, f"raw/quotes/{day}.csv"],
            )
            curated = {c["Name"]: None for c in tables["quotes_curated"]["StorageDescriptor"]["Columns"]}
            curated.update(
                slot_at=stamp, cmc_id=1, symbol="CUR", quote_currency="USD", price=1.0,
                last_updated=stamp, ingested_at=stamp,
            )
            db.execute(
                "INSERT INTO quotes_curated VALUES (" + ", ".join("?" * (len(curated) + 3)) + ")",
                [*curated.values(), day.year, day.month, day.day],
            )
            day += dt.timedelta(days=1)
        for view in views:
            db.execute(dialect(view, at))
        rows = db.execute(
            "SELECT cmc_id, make_date(year, month, day) FROM quotes ORDER BY 2, 1"
        ).fetchall()
        out[at] = {
            "from": str(first),
            "to": str(last),
            "curated": [str(d) for source, d in rows if source == 1],
            "raw": [str(d) for source, d in rows if source == 2],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--template", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--at", action="append", required=True)
    args = parser.parse_args()

    tables, queries = load_template(args.template)
    data = os.path.abspath(args.data)
    work = tempfile.mkdtemp(prefix="coinlake-hive-")
    try:
        read = read_tables(tables, data, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    problems = []
    for name, table in tables.items():
        if is_parquet(table):
            problems += parquet_problems(table, data, {r["file"] for r in read[name][0]})
    escape = tables["quotes_csv"]["StorageDescriptor"]["SerdeInfo"].get("Parameters", {}).get("escapeChar")
    results, raw_only, per_day = run_queries(tables, queries, read, args.at)
    json.dump(
        {
            "escape_char": escape,
            "tables": {
                name: {
                    "rows": [{**r, "fields": [text(v) for v in r["fields"]]} for r in rows],
                    "unprojected": unprojected,
                }
                for name, (rows, unprojected) in read.items()
            },
            "parquet_problems": problems,
            "queries": results,
            "raw_only_queries": raw_only,
            "rows_per_day": per_day,
            "window": window(tables, queries, args.at),
        },
        sys.stdout,
        indent=1,
        ensure_ascii=False,
    )


if __name__ == "__main__":
    main()
