//! Whether the receiving MTA vouches for a mail's From address, read from
//! its `Authentication-Results` headers (RFC 8601).
//!
//! The From header of a mail is whatever the sender typed. An MTA that
//! checks SPF, DKIM and DMARC writes what it found into an
//! `Authentication-Results` header named by its own "authserv-id", and
//! removes headers of that name that arrived from outside (RFC 8601 §5).
//! Only headers of the authserv-id the operator trusts count here, and a
//! pass counts only when its domain is aligned with the From address, as
//! DMARC defines alignment (relaxed: the same domain, or one below the
//! other). Nothing else is trusted: no header, or none of that id, is no
//! proof.

/// One `method=result` of a trusted header, with its properties.
#[derive(Debug, PartialEq, Eq)]
struct Verdict {
    method: String,
    result: String,
    /// `ptype.property` → value, e.g. `header.d` → `acme.example`.
    properties: Vec<(String, String)>,
}

/// Text without RFC 5322 comments (`(...)`, which may nest).
fn without_comments(value: &str) -> String {
    let mut depth = 0usize;
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The verdicts of one header value, if it is by `authserv_id`.
fn verdicts(value: &str, authserv_id: &str) -> Option<Vec<Verdict>> {
    let value = without_comments(value);
    let mut clauses = value.split(';');
    let id = clauses.next()?.split_whitespace().next()?;
    if !id.eq_ignore_ascii_case(authserv_id) {
        return None;
    }
    let verdicts = clauses
        .filter_map(|clause| {
            let mut tokens = clause.split_whitespace();
            let (method, result) = tokens.next()?.split_once('=')?;
            let properties = tokens
                .filter_map(|t| t.split_once('='))
                .map(|(k, v)| (k.to_ascii_lowercase(), v.trim_matches('"').to_string()))
                .collect();
            Some(Verdict {
                method: method.to_ascii_lowercase(),
                result: result.to_ascii_lowercase(),
                properties,
            })
        })
        .collect();
    Some(verdicts)
}

/// The domain of an address or a bare domain, lower case.
fn domain_of(text: &str) -> String {
    text.rsplit('@')
        .next()
        .unwrap_or_default()
        .trim_matches(|c| c == '<' || c == '>' || c == '.')
        .to_ascii_lowercase()
}

/// DMARC's relaxed alignment, approximated without a public-suffix list:
/// the same domain, or one a subdomain of the other.
fn aligned(a: &str, b: &str) -> bool {
    !a.is_empty()
        && !b.is_empty()
        && (a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}")))
}

/// Whether the headers `values` (all `Authentication-Results` of a mail)
/// show, by `authserv_id`, a DMARC pass for the From domain, or a DKIM or
/// SPF pass of a domain aligned with it.
pub fn sender_authenticated(values: &[String], authserv_id: &str, from: &str) -> bool {
    let from = domain_of(from);
    let property = |v: &Verdict, names: &[&str]| {
        v.properties
            .iter()
            .find(|(k, _)| names.contains(&k.as_str()))
            .map(|(_, value)| domain_of(value))
    };
    values
        .iter()
        .filter_map(|value| verdicts(value, authserv_id))
        .flatten()
        .filter(|v| v.result == "pass")
        .any(|v| match v.method.as_str() {
            // A DMARC pass is for the From domain itself; a header.from,
            // when given, must say which.
            "dmarc" => property(&v, &["header.from"]).is_none_or(|d| aligned(&d, &from)),
            "dkim" => property(&v, &["header.d", "header.i"]).is_some_and(|d| aligned(&d, &from)),
            "spf" => property(&v, &["smtp.mailfrom"]).is_some_and(|d| aligned(&d, &from)),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MTA: &str = "mx.provider.example";

    fn ok(header: &str, from: &str) -> bool {
        sender_authenticated(&[header.to_string()], MTA, from)
    }

    #[test]
    fn an_aligned_pass_of_the_trusted_mta_authenticates() {
        assert!(ok(
            "mx.provider.example; dmarc=pass (p=reject) header.from=acme.example",
            "anna@acme.example"
        ));
        assert!(ok(
            "mx.provider.example 1; dkim=pass header.d=mail.acme.example header.s=s1",
            "anna@acme.example"
        ));
        assert!(ok(
            "MX.Provider.Example; spf=pass smtp.mailfrom=bounce@acme.example",
            "Anna@ACME.example"
        ));
    }

    #[test]
    fn failures_other_domains_and_other_mtas_do_not() {
        for (header, why) in [
            (
                "mx.provider.example; dmarc=fail header.from=acme.example",
                "a fail",
            ),
            (
                "mx.provider.example; dkim=pass header.d=evil.example",
                "a pass of another domain",
            ),
            (
                "mx.provider.example; spf=pass smtp.mailfrom=evil.example",
                "spf of another domain",
            ),
            (
                "mx.evil.example; dmarc=pass header.from=acme.example",
                "another authserv-id",
            ),
            (
                "mx.provider.example; dmarc=pass header.from=notacme.example",
                "a look-alike domain",
            ),
            (
                "mx.provider.example (dmarc=pass); spf=none",
                "a pass inside a comment",
            ),
            ("mx.provider.example; none", "no result"),
        ] {
            assert!(!ok(header, "anna@acme.example"), "{why}");
        }
        assert!(
            !sender_authenticated(&[], MTA, "anna@acme.example"),
            "no header"
        );
    }
}
