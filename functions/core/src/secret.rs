//! Secret values (the CMC API key, database passwords) that must never reach a log line,
//! an error message or a returned event.

use std::fmt;

/// A string whose `Debug` and `Display` print `[redacted]`; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the secret in `text`; for text that comes from outside
    /// (error bodies, library errors) and is about to be shown.
    pub fn redact_from(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.0, "[redacted]")
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("b54bcf4d-1bca-4e8e-9a24-22ff2c3d462c");
        assert!(!format!("{secret:?} {secret} {secret:#?}").contains("b54bcf4d"));
        assert_eq!(secret.expose(), "b54bcf4d-1bca-4e8e-9a24-22ff2c3d462c");
    }

    #[test]
    fn redacts_the_value_from_foreign_text() {
        let secret = Secret::new("k3y");
        assert_eq!(
            secret.redact_from("bad key k3y, k3y!"),
            "bad key [redacted], [redacted]!"
        );
        assert_eq!(Secret::new("").redact_from("text"), "text");
    }
}
