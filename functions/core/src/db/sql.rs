//! SQL helpers every database path shares: the sinks and the market reader write their
//! statements once, with `:name` parameters, and run them on both backends.

/// Rewrites `:name` parameters as `$1, $2, …` in order of first appearance, for
/// tokio-postgres. The statements coinlake writes hold no string literals or `::` casts,
/// which keeps the rewrite a plain scan.
pub fn numbered(sql: &str) -> String {
    numbered_with_names(sql).0
}

/// `numbered`, and the names in the order of their numbers (`$1` is the first).
pub fn numbered_with_names(sql: &str) -> (String, Vec<&str>) {
    let mut names: Vec<&str> = Vec::new();
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(':') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let length = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        if length == 0 {
            out.push(':');
            rest = after;
            continue;
        }
        let name = &after[..length];
        let index = match names.iter().position(|n| *n == name) {
            Some(index) => index,
            None => {
                names.push(name);
                names.len() - 1
            }
        };
        out.push_str(&format!("${}", index + 1));
        rest = &after[length..];
    }
    out.push_str(rest);
    (out, names)
}

/// Rows whose every column is text (or null): what the `CAST(… AS text)` statements answer.
pub type TextRows = Vec<Vec<Option<String>>>;

/// Runs `sql` with its `:name` parameters bound from `parameters` on a pooled connection.
/// Every parameter is declared text, as the Data API sends them, so the statements' own
/// CASTs do the typing on both backends; prepared once per connection.
pub async fn query_text(
    client: &deadpool_postgres::Object,
    sql: &str,
    parameters: &[(&str, &str)],
) -> Result<TextRows, super::DbError> {
    use super::DbError;
    let (statement, names) = numbered_with_names(sql);
    let mut values: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = Vec::new();
    for name in names {
        let value = parameters
            .iter()
            .find(|(given, _)| *given == name)
            .map(|(_, value)| value)
            .ok_or_else(|| {
                DbError::new(
                    format!("no value for parameter :{name}"),
                    format!("statement: {sql}"),
                )
            })?;
        values.push(value);
    }
    let types = vec![tokio_postgres::types::Type::TEXT; values.len()];
    let prepared = client
        .prepare_typed_cached(&statement, &types)
        .await
        .map_err(DbError::postgres)?;
    let rows = client
        .query(&prepared, &values)
        .await
        .map_err(DbError::postgres)?;
    Ok(rows
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|i| row.get::<_, Option<String>>(i))
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_parameters_become_numbered_in_order_of_first_use() {
        assert_eq!(
            numbered("VALUES (:a, :b, :a) -- :b"),
            "VALUES ($1, $2, $1) -- $2"
        );
    }
}
