//! Pages from minijinja templates compiled into the binary, with the
//! translation function `t` and time formatting in the configured zone.

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use minijinja::value::Value;
use minijinja::{Environment, State};

use crate::error::{ErrorPage, SecurityRefusal};
use crate::i18n::{self, Lang};
use crate::{App, Settings};

pub struct Templates {
    env: Environment<'static>,
}

/// Every template, compiled in so the binary stands alone.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("login.html", include_str!("../templates/login.html")),
    (
        "second_factor.html",
        include_str!("../templates/second_factor.html"),
    ),
    ("enrol.html", include_str!("../templates/enrol.html")),
    (
        "recovery_codes.html",
        include_str!("../templates/recovery_codes.html"),
    ),
    ("home.html", include_str!("../templates/home.html")),
    ("catalog.html", include_str!("../templates/catalog.html")),
    (
        "ticket_new.html",
        include_str!("../templates/ticket_new.html"),
    ),
    ("ticket.html", include_str!("../templates/ticket.html")),
    (
        "ticket_edit.html",
        include_str!("../templates/ticket_edit.html"),
    ),
    ("privacy.html", include_str!("../templates/privacy.html")),
    ("tiles.html", include_str!("../templates/tiles.html")),
    ("services.html", include_str!("../templates/services.html")),
    ("service.html", include_str!("../templates/service.html")),
    (
        "desk_import.html",
        include_str!("../templates/desk_import.html"),
    ),
    (
        "desk_form.html",
        include_str!("../templates/desk_form.html"),
    ),
    (
        "desk_partners.html",
        include_str!("../templates/desk_partners.html"),
    ),
    (
        "desk_partner.html",
        include_str!("../templates/desk_partner.html"),
    ),
    (
        "desk_persons.html",
        include_str!("../templates/desk_persons.html"),
    ),
    (
        "desk_mails.html",
        include_str!("../templates/desk_mails.html"),
    ),
    (
        "desk_mail.html",
        include_str!("../templates/desk_mail.html"),
    ),
    (
        "desk_person.html",
        include_str!("../templates/desk_person.html"),
    ),
    (
        "desk_audit.html",
        include_str!("../templates/desk_audit.html"),
    ),
    ("security.html", include_str!("../templates/security.html")),
    (
        "no_access.html",
        include_str!("../templates/no_access.html"),
    ),
    (
        "desk_password.html",
        include_str!("../templates/desk_password.html"),
    ),
    (
        "desk_contract.html",
        include_str!("../templates/desk_contract.html"),
    ),
    (
        "desk_service.html",
        include_str!("../templates/desk_service.html"),
    ),
    (
        "desk_system.html",
        include_str!("../templates/desk_system.html"),
    ),
];

fn lang_of(state: &State) -> Lang {
    state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(Lang::parse))
        .unwrap_or_default()
}

impl Templates {
    pub fn load(settings: &Settings) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        env.add_function("t", |state: &State, key: &str| {
            i18n::text(lang_of(state), key)
        });
        // A status as the reader sees it: "Rückfrage an Sie" to the
        // customer is "Warten auf Kunde" at the desk.
        env.add_function("status_label", |state: &State, code: &str| {
            let desk = state
                .lookup("user")
                .and_then(|u| u.get_attr("agent").ok())
                .is_some_and(|a| a.is_true());
            let prefix = if desk { "status_desk" } else { "status" };
            i18n::text(lang_of(state), &format!("{prefix}.{code}"))
        });
        let zone = jiff::tz::TimeZone::get(&settings.time_zone)
            .map_err(|e| anyhow::anyhow!("unknown time zone {}: {e}", settings.time_zone))?;
        let z = zone.clone();
        env.add_filter("dt", move |state: &State, ts: i64| -> String {
            let zone = &z;
            let Ok(at) = jiff::Timestamp::from_second(ts) else {
                return String::new();
            };
            let local = at.to_zoned(zone.clone());
            match lang_of(state) {
                Lang::De => local.strftime("%d.%m.%Y %H:%M").to_string(),
                Lang::En => local.strftime("%Y-%m-%d %H:%M").to_string(),
            }
        });
        env.add_filter("truncate", |s: &str, n: usize| -> String {
            if s.chars().count() <= n {
                s.to_string()
            } else {
                let cut: String = s.chars().take(n).collect();
                format!("{}…", cut.trim_end())
            }
        });
        // Dates of periods (contracts, authorisations): `date` of a start,
        // `until` of an exclusive end (the last day in force), `day` as an
        // <input type="date"> value; all in the provider's time zone.
        let z = zone.clone();
        env.add_filter("date", move |state: &State, ts: i64| -> String {
            crate::dates::show(ts, &z, lang_of(state))
        });
        let z = zone.clone();
        env.add_filter("until", move |state: &State, ts: i64| -> String {
            crate::dates::show_end(ts, &z, lang_of(state))
        });
        let z = zone.clone();
        env.add_filter("day", move |ts: i64| -> String {
            crate::dates::input_value(ts, &z)
        });
        let z = zone.clone();
        env.add_filter("until_day", move |ts: i64| -> String {
            crate::dates::input_value(ts - 1, &z)
        });
        env.add_filter("split", |s: &str, sep: &str| -> Vec<String> {
            s.split(sep).map(str::to_string).collect()
        });
        env.add_filter("filesize", |state: &State, bytes: i64| -> String {
            let text = match bytes {
                b if b < 1024 => format!("{b} B"),
                b if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
                b => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
            };
            match lang_of(state) {
                Lang::De => text.replace('.', ","),
                Lang::En => text,
            }
        });
        Ok(Self { env })
    }

    pub fn render(&self, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}

impl App {
    /// Renders a page; a template error is a defect and answers 500.
    pub(crate) fn page(&self, name: &str, ctx: Value) -> Response {
        match self.templates().render(name, ctx) {
            Ok(html) => Html(html).into_response(),
            Err(e) => {
                crate::WebError::Internal(anyhow::anyhow!("template {name}: {e:#}")).into_response()
            }
        }
    }

    /// The context every page shares.
    pub(crate) fn chrome(&self, lang: Lang) -> Value {
        let s = self.settings();
        minijinja::context! {
            lang => lang.code(),
            provider => s.provider_name,
            office_email => s.office_email,
            privacy_url => s.privacy_url,
        }
    }
}

/// The language of a request before anyone is known: the chosen cookie,
/// then the browser's preference, then German.
pub fn request_lang(headers: &HeaderMap) -> Lang {
    crate::session::cookie(headers, crate::session::LANG_COOKIE)
        .and_then(|v| Lang::parse(&v))
        .or_else(|| {
            headers
                .get(axum::http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or_default()
}

fn error_key(status: axum::http::StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "error.not_found",
        403 => "error.forbidden",
        405 => "error.method_not_allowed",
        413 => "error.too_large",
        500..=599 => "error.internal",
        _ => "error.bad_request",
    }
}

/// Turns error responses into pages in the person's language.
pub async fn render_errors(
    axum::extract::State(app): axum::extract::State<App>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers().clone();
    let response = next.run(request).await;
    let status = response.status();
    if let Some(refusal) = response.extensions().get::<SecurityRefusal>().copied() {
        crate::routes::auth::security_event(&app, Some(refusal.person), refusal.event, "").await;
    }
    let key = match response.extensions().get::<ErrorPage>() {
        Some(ErrorPage(key)) => key.clone(),
        // Rejections of the framework's extractors (a malformed path,
        // form or upload) come as plain text; they get a page too.
        None if status.is_client_error() || status.is_server_error() => {
            // Our own pages, and the JSON answers the page's script reads
            // (the passkey ceremonies), stay as they are.
            let ours = response
                .headers()
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/html") || v.starts_with("application/json"));
            if ours {
                return response;
            }
            tracing::info!(status = status.as_u16(), "request refused");
            error_key(status).to_string()
        }
        None => return response,
    };
    // The page of a signed-in person keeps their menu and language.
    let chrome = match crate::session::Current::from_headers(&app, &headers).await {
        Ok(current) => current.chrome(&app),
        Err(_) => app.chrome(request_lang(&headers)),
    };
    let ctx = minijinja::context! { ..chrome, ..minijinja::context! {
        message_key => key,
        status => status.as_u16(),
        back => same_origin_referer(&headers),
    }};
    let mut page = app.page("error.html", ctx);
    *page.status_mut() = status;
    page
}

/// The path of the page a request came from, when it is one of ours.
pub fn same_origin_referer(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(axum::http::header::HOST)?.to_str().ok()?;
    let referer = headers.get(axum::http::header::REFERER)?.to_str().ok()?;
    let path = referer.split_once("://")?.1.strip_prefix(host)?;
    let path = if path.is_empty() { "/" } else { path };
    is_local_path(path).then(|| path.to_string())
}

/// Whether `path` stays on this site when a browser follows it. Browsers
/// drop tabs and line breaks from URLs and read `\` as `/`, so `/\t/evil`
/// would become `//evil`, another site: none of those may appear at all.
pub fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(|c| c.is_control() || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::{TEMPLATES, is_local_path};

    #[test]
    fn only_paths_of_this_site_are_local() {
        for ok in ["/", "/tickets/2026-000001?tab=a", "/catalog/my-open#x"] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/ /evil.example",
            "https://evil.example",
            "evil.example",
            "",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
    }

    /// Every message key a template names literally exists in German (and
    /// so, by the catalogue test, in English): a missing key would show
    /// the key itself to the person.
    #[test]
    fn every_key_a_template_names_is_translated() {
        let mut missing = Vec::new();
        for (name, source) in TEMPLATES {
            for (at, _) in source.match_indices("t(") {
                let before = source[..at].chars().next_back().unwrap_or(' ');
                let rest = &source[at + 2..];
                let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                    continue;
                };
                let Some((key, after)) = rest[1..].split_once(quote) else {
                    continue;
                };
                // `t("key")` alone: not `split(…)`, not `t("prefix." ~ code)`.
                if before.is_alphanumeric() || before == '_' || !after.starts_with(')') {
                    continue;
                }
                if crate::i18n::text(crate::i18n::Lang::De, key) == key {
                    missing.push(format!("{name}: {key}"));
                }
            }
        }
        assert!(missing.is_empty(), "untranslated keys: {missing:?}");
    }
}
