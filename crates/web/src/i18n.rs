//! Translations. Every user-facing string lives in `locales/<lang>.toml`;
//! German is the default and the fallback.

use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    De,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().get(..2)? {
            "de" => Some(Lang::De),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The first supported language of an `Accept-Language` header.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        header
            .split(',')
            .find_map(|part| Lang::parse(part.split(';').next().unwrap_or("")))
    }
}

type Catalogue = HashMap<String, String>;

fn flatten(prefix: &str, value: &toml::Value, out: &mut Catalogue) {
    match value {
        toml::Value::Table(table) => {
            for (k, v) in table {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

fn parse(source: &str) -> Catalogue {
    let mut out = Catalogue::new();
    // The catalogues are compiled in and checked by a test, so a parse
    // failure here is a build defect; an empty catalogue shows keys.
    if let Ok(value) = source.parse::<toml::Value>() {
        flatten("", &value, &mut out);
    }
    out
}

fn catalogues() -> &'static [Catalogue; 2] {
    static CATALOGUES: OnceLock<[Catalogue; 2]> = OnceLock::new();
    CATALOGUES.get_or_init(|| {
        [
            parse(include_str!("../locales/de.toml")),
            parse(include_str!("../locales/en.toml")),
        ]
    })
}

/// The text for a key in a language; German when missing; the key itself
/// when missing everywhere (a test keeps that from happening).
pub fn text(lang: Lang, key: &str) -> String {
    let [de, en] = catalogues();
    let own = if lang == Lang::En { en } else { de };
    own.get(key)
        .or_else(|| de.get(key))
        .cloned()
        .unwrap_or_else(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogues_parse_and_have_the_same_keys() {
        let de = parse(include_str!("../locales/de.toml"));
        let en = parse(include_str!("../locales/en.toml"));
        assert!(de.len() > 50, "German catalogue did not parse");
        let mut missing: Vec<_> = de.keys().filter(|k| !en.contains_key(*k)).collect();
        missing.extend(en.keys().filter(|k| !de.contains_key(*k)));
        assert!(missing.is_empty(), "keys in one language only: {missing:?}");
    }

    #[test]
    fn accept_language() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(
            Lang::from_accept_language("fr-FR, de;q=0.5"),
            Some(Lang::De)
        );
        assert_eq!(Lang::from_accept_language("fr"), None);
    }
}
