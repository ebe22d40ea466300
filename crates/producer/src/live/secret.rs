//! API keys: a type whose Debug and Display print `***`, so a key cannot reach a log line by
//! accident; the one place that needs its text asks for it by name.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: String) -> Self {
        ApiKey(key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key's text, for the request that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with the key masked.
    pub fn redact(&self, text: String) -> String {
        if self.0.is_empty() { text } else { text.replace(&self.0, "***") }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}
