//! The SQL both sinks run, derived from the one column list of each dataset in `schema`.

use super::{LoadRow, Statements};
use crate::alerts::evaluation::{EVALUATE_KLINE_ALERTS, EVALUATE_QUOTE_ALERTS};
use crate::binance::Kline;
use crate::quote::QuoteRow;
use crate::schema::{Column, ColumnType, Row, KLINE_COLUMNS, QUOTE_COLUMNS};

/// Per-session staging table a file's rows land in before the de-duplicating insert;
/// emptied at every commit, gone with the session. `file_order` numbers the rows as they
/// arrive (COPY and the Data API batches keep the file's order), so that of two quotes rows
/// for the same update in one file the first wins; the curated day object breaks that tie
/// the same way.
pub fn create_staging_table(table: &str, columns: &[Column]) -> String {
    let columns: Vec<String> = columns
        .iter()
        .map(|c| format!("{} {}", c.name, c.column_type.postgres()))
        .collect();
    format!(
        "CREATE TEMP TABLE IF NOT EXISTS {table} ({}, file_order bigint GENERATED ALWAYS AS IDENTITY) \
         ON COMMIT DELETE ROWS",
        columns.join(", ")
    )
}

/// `COPY … FROM STDIN` of the staged columns. CSV reads an unquoted empty field as NULL;
/// text columns hold empty strings instead (an empty slug is a value, not a missing one).
pub fn copy_statement(table: &str, columns: &[Column]) -> String {
    let text_columns: Vec<&str> = columns
        .iter()
        .filter(|c| c.column_type == ColumnType::Text)
        .map(|c| c.name)
        .collect();
    format!(
        "COPY {table} ({}) FROM STDIN (FORMAT csv, FORCE_NOT_NULL ({}))",
        column_list(columns),
        text_columns.join(", ")
    )
}

pub fn column_list(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One staged row, for sinks that cannot COPY (the Data API).
pub fn insert_staged_row(table: &str, columns: &[Column]) -> String {
    let values: Vec<String> = columns.iter().map(|c| format!(":{}", c.name)).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        column_list(columns),
        values.join(", ")
    )
}

const QUOTES_STAGING: &str = "load_quotes";

/// Quotes: the assets are upserted and the month partitions made sure of before the
/// quotes are stored, once per CMC update and UTC day, an earlier slot replacing a later one.
impl LoadRow for QuoteRow {
    fn statements() -> Statements {
        Statements {
            create_staging: create_staging_table(QUOTES_STAGING, Self::COLUMNS),
            copy: copy_statement(QUOTES_STAGING, Self::COLUMNS),
            stage_row: insert_staged_row(QUOTES_STAGING, Self::COLUMNS),
            prepare: &[UPSERT_ASSETS, ENSURE_PARTITIONS],
            insert: insert_quotes(),
            replace: Some(replace_quotes()),
            evaluate: EVALUATE_QUOTE_ALERTS,
        }
    }
}

const KLINES_STAGING: &str = "load_klines";

/// Klines: a minute that closed is final on Binance, so the first load of a minute wins
/// (migration V7) and nothing is replaced.
impl LoadRow for Kline {
    fn statements() -> Statements {
        Statements {
            create_staging: create_staging_table(KLINES_STAGING, Self::COLUMNS),
            copy: copy_statement(KLINES_STAGING, Self::COLUMNS),
            stage_row: insert_staged_row(KLINES_STAGING, Self::COLUMNS),
            prepare: &[],
            insert: insert_klines(),
            replace: None,
            evaluate: EVALUATE_KLINE_ALERTS,
        }
    }
}

/// Stores the staged klines whose minute is not stored yet; `:s3_key` is the object key.
/// Affects the inserted rows. Rows come in key order so that concurrent loads of
/// overlapping files lock them in the same order and cannot deadlock; one waiting for a
/// minute another load is inserting inserts nothing once that load commits.
pub fn insert_klines() -> String {
    let columns = column_list(&KLINE_COLUMNS);
    format!(
        "INSERT INTO klines_1m ({columns}, s3_key) \
         SELECT {columns}, CAST(:s3_key AS text) FROM {KLINES_STAGING} ORDER BY symbol, open_time \
         ON CONFLICT (symbol, open_time) DO NOTHING"
    )
}

/// Assets seen in the staged file. Names and symbols follow the newest sighting, so
/// replaying an old file never renames an asset back. Rows are locked in id order, then
/// the month partitions are made sure of, and quotes are locked after them in key order,
/// so concurrent loads cannot deadlock.
pub const UPSERT_ASSETS: &str = "\
INSERT INTO assets AS a (cmc_id, symbol, name, slug, first_seen, last_seen)
SELECT cmc_id,
       (array_agg(symbol ORDER BY slot_at DESC))[1],
       (array_agg(name ORDER BY slot_at DESC))[1],
       (array_agg(slug ORDER BY slot_at DESC))[1],
       min(slot_at),
       max(slot_at)
FROM load_quotes
GROUP BY cmc_id
ORDER BY cmc_id
ON CONFLICT (cmc_id) DO UPDATE SET
    symbol = CASE WHEN excluded.last_seen >= a.last_seen THEN excluded.symbol ELSE a.symbol END,
    name = CASE WHEN excluded.last_seen >= a.last_seen THEN excluded.name ELSE a.name END,
    slug = CASE WHEN excluded.last_seen >= a.last_seen THEN excluded.slug ELSE a.slug END,
    first_seen = least(a.first_seen, excluded.first_seen),
    last_seen = greatest(a.last_seen, excluded.last_seen)
WHERE excluded.first_seen < a.first_seen
   OR excluded.last_seen > a.last_seen
   OR (excluded.last_seen = a.last_seen
       AND (excluded.symbol, excluded.name, excluded.slug) IS DISTINCT FROM (a.symbol, a.name, a.slug))";

/// The columns that, with `observed_on`, key a stored quote: one row per CMC update per
/// UTC day observed.
const UPDATE_KEY: [&str; 3] = ["cmc_id", "quote_currency", "last_updated"];

const CONFLICT_KEY: &str = "(cmc_id, quote_currency, last_updated, observed_on)";

/// Creates the partition of every month the staged rows fall in (by the UTC day of their
/// slot) that does not exist yet. Run after the assets upsert and before anything touches
/// `quotes`: creating a partition waits for every transaction holding a lock on `quotes`,
/// then holds it exclusively until this load commits. A load holding a lock on `quotes` is
/// past its assets upsert and never waits for a load that is not, so none of those the
/// creator waits for can be waiting for it. Run first, it would hold the table while
/// waiting for the asset rows of a load that waits for the table: a deadlock.
pub const ENSURE_PARTITIONS: &str = "\
SELECT count(*) FILTER (WHERE ensure_quotes_partition(month))
FROM (SELECT DISTINCT CAST(date_trunc('month', timezone('UTC', slot_at)) AS date) AS month
      FROM load_quotes) months";

/// The staged rows as they are to be stored, one per CMC update and UTC day: the earliest
/// slot of the day wins (the first in the file if one file holds the update twice), and
/// rows come in key order so that concurrent loads lock them in the same order.
fn staged_rows() -> String {
    let columns = column_list(&QUOTE_COLUMNS);
    format!(
        "SELECT DISTINCT ON {CONFLICT_KEY} {columns}, observed_on, CAST(:s3_key AS text) \
         FROM (SELECT *, CAST(timezone('UTC', slot_at) AS date) AS observed_on FROM load_quotes) staged \
         ORDER BY cmc_id, quote_currency, last_updated, observed_on, slot_at, file_order"
    )
}

/// Stores the staged rows whose update is not yet stored for their day; `:s3_key` is the
/// object key. Affects the inserted rows.
pub fn insert_quotes() -> String {
    let columns = column_list(&QUOTE_COLUMNS);
    format!(
        "INSERT INTO quotes ({columns}, observed_on, s3_key) {} \
         ON CONFLICT {CONFLICT_KEY} DO NOTHING",
        staged_rows()
    )
}

/// Replaces each stored row that a staged row observed earlier the same day (an earlier
/// slot loaded after a later one), every column taken from the earlier observation; run
/// after [`insert_quotes`], whose rows it leaves alone. Affects the replaced rows. Run as a
/// statement of its own, it sees rows that concurrent loads committed while the insert
/// waited for them, and its `ON CONFLICT` re-checks the slot against the row as it is when
/// locked: whatever the order files load in, the earliest slot stays.
pub fn replace_quotes() -> String {
    let columns = column_list(&QUOTE_COLUMNS);
    let assignments: Vec<String> = QUOTE_COLUMNS
        .iter()
        .map(|c| c.name)
        .filter(|name| !UPDATE_KEY.contains(name))
        .chain(["s3_key", "loaded_at"])
        .map(|name| format!("{name} = excluded.{name}"))
        .collect();
    format!(
        "INSERT INTO quotes AS stored ({columns}, observed_on, s3_key) {} \
         ON CONFLICT {CONFLICT_KEY} DO UPDATE SET {} \
         WHERE excluded.slot_at < stored.slot_at",
        staged_rows(),
        assignments.join(", ")
    )
}

pub const INSERT_RUN: &str = "\
INSERT INTO ingest_runs (slot_at, dataset, s3_key, status, rows_in_file, rows_inserted, rows_replaced,
                         rows_present, rows_rejected, credits, error, started_at)
VALUES (:slot_at, :dataset, :s3_key, :status, :rows_in_file, :rows_inserted, :rows_replaced,
        :rows_present, :rows_rejected, :credits, :error, :started_at)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::sql::numbered;

    #[test]
    fn the_load_statements_number_their_parameters() {
        assert_eq!(numbered(&insert_quotes()).matches("$1").count(), 1);
        assert_eq!(numbered(&replace_quotes()).matches("$1").count(), 1);
        assert!(!numbered(&replace_quotes()).contains("$2"));
        assert!(numbered(INSERT_RUN).contains("$12"));
        assert!(!numbered(ENSURE_PARTITIONS).contains('$'));
    }

    #[test]
    fn a_replacement_takes_every_column_but_the_key_from_the_earlier_slot() {
        let replace = replace_quotes();
        for column in QUOTE_COLUMNS {
            let assigned = replace.contains(&format!("{0} = excluded.{0}", column.name));
            assert_eq!(
                assigned,
                !UPDATE_KEY.contains(&column.name),
                "{}",
                column.name
            );
        }
        assert!(replace.contains("s3_key = excluded.s3_key"));
        assert!(replace.contains("loaded_at = excluded.loaded_at"));
        assert!(!replace.contains("observed_on = excluded"));
    }

    #[test]
    fn staging_and_inserts_name_every_schema_column() {
        for (statements, columns) in [
            (QuoteRow::statements(), &QUOTE_COLUMNS[..]),
            (Kline::statements(), &KLINE_COLUMNS[..]),
        ] {
            for column in columns {
                assert!(statements.create_staging.contains(&format!(
                    "{} {}",
                    column.name,
                    column.column_type.postgres()
                )));
                assert!(statements.copy.contains(column.name));
                assert!(statements.insert.contains(column.name));
                assert!(statements.stage_row.contains(&format!(":{}", column.name)));
                if let Some(replace) = &statements.replace {
                    assert!(replace.contains(column.name));
                }
            }
        }
    }

    #[test]
    fn a_klines_load_keeps_the_first_load_of_a_minute() {
        let insert = numbered(&insert_klines());
        assert!(insert.ends_with("ON CONFLICT (symbol, open_time) DO NOTHING"));
        assert_eq!(insert.matches("$1").count(), 1);
        assert!(Kline::statements().replace.is_none());
        assert!(Kline::statements().prepare.is_empty());
    }
}
