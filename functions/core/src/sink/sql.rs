//! The SQL both sinks run, derived from the one column list in `schema`.

use crate::schema::{ColumnType, QUOTE_COLUMNS};

/// Per-session staging table the file's rows land in before the de-duplicating insert;
/// emptied at every commit, gone with the session.
pub fn create_staging_table() -> String {
    let columns: Vec<String> = QUOTE_COLUMNS
        .iter()
        .map(|c| format!("{} {}", c.name, c.column_type.postgres()))
        .collect();
    format!(
        "CREATE TEMP TABLE IF NOT EXISTS load_quotes ({}) ON COMMIT DELETE ROWS",
        columns.join(", ")
    )
}

/// `COPY … FROM STDIN` of the staged columns. CSV reads an unquoted empty field as NULL;
/// text columns hold empty strings instead (an empty slug is a value, not a missing one).
pub fn copy_statement() -> String {
    let text_columns: Vec<&str> = QUOTE_COLUMNS
        .iter()
        .filter(|c| c.column_type == ColumnType::Text)
        .map(|c| c.name)
        .collect();
    format!(
        "COPY load_quotes ({}) FROM STDIN (FORMAT csv, FORCE_NOT_NULL ({}))",
        column_list(),
        text_columns.join(", ")
    )
}

pub fn column_list() -> String {
    QUOTE_COLUMNS
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Assets seen in the staged file. Names and symbols follow the newest sighting, so
/// replaying an old file never renames an asset back. Rows are locked in id order, and
/// quotes after them in key order, so concurrent loads cannot deadlock.
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

/// The staged rows not yet stored; `:s3_key` is the object key. Affects the inserted rows.
pub fn insert_quotes() -> String {
    let columns = column_list();
    format!(
        "INSERT INTO quotes ({columns}, s3_key) \
         SELECT {columns}, :s3_key FROM load_quotes \
         ORDER BY cmc_id, quote_currency, last_updated \
         ON CONFLICT (cmc_id, quote_currency, last_updated) DO NOTHING"
    )
}

/// One staged row, for sinks that cannot COPY (the Data API).
pub fn insert_staged_row() -> String {
    let values: Vec<String> = QUOTE_COLUMNS
        .iter()
        .map(|c| format!(":{}", c.name))
        .collect();
    format!(
        "INSERT INTO load_quotes ({}) VALUES ({})",
        column_list(),
        values.join(", ")
    )
}

pub const INSERT_RUN: &str = "\
INSERT INTO ingest_runs (slot_at, dataset, s3_key, status, rows_in_file, rows_inserted, rows_present,
                         rows_rejected, credits, error, started_at)
VALUES (:slot_at, :dataset, :s3_key, :status, :rows_in_file, :rows_inserted, :rows_present,
        :rows_rejected, :credits, :error, :started_at)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::sql::numbered;

    #[test]
    fn the_load_statements_number_their_parameters() {
        assert_eq!(numbered(&insert_quotes()).matches("$1").count(), 1);
        assert!(numbered(INSERT_RUN).contains("$11"));
    }

    #[test]
    fn staging_and_inserts_name_every_schema_column() {
        for column in QUOTE_COLUMNS {
            assert!(create_staging_table().contains(&format!(
                "{} {}",
                column.name,
                column.column_type.postgres()
            )));
            assert!(insert_quotes().contains(column.name));
            assert!(insert_staged_row().contains(&format!(":{}", column.name)));
        }
    }
}
