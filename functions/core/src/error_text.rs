//! Errors as one line of text, for messages and logs.

/// An error and its causes in one line: a pool's "error creating a new object" or
/// reqwest's "error sending request" only becomes actionable with the TLS or network
/// reason beneath it. A cause whose text the line already holds is not repeated.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
