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
