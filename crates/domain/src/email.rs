//! An email address, parsed once.

use std::fmt;

use crate::error::DomainError;

/// A syntactically plausible email address, trimmed and lower-cased so that
/// lookups never depend on how someone typed it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let value = raw.trim().to_lowercase();
        let valid = value.len() <= 254
            && value.chars().all(|c| !c.is_whitespace() && !c.is_control())
            && match value.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if valid {
            Ok(Self(value))
        } else {
            Err(DomainError::invalid("email", "invalid_email"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        assert_eq!(
            Email::parse("  Anna.Berg@Example.DE ").unwrap().as_str(),
            "anna.berg@example.de"
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "anna",
            "anna@",
            "@example.de",
            "a b@example.de",
            "a@b@c.de",
            "a@localhost",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
