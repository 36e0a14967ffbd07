//! Configuration of one installation. Four layers, each overriding the one
//! before: built-in defaults, a TOML file (`--config` or
//! `TICKETWERK_CONFIG`), `TICKETWERK_*` environment variables, and flags on
//! the command line. Every setting is documented in
//! `ticketwerk.example.toml` at the root of the repository.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use ticketwerk_domain::Email;
use ticketwerk_web::Settings;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./ticketwerk-data";
/// The SQLite database inside the data directory.
pub const DATABASE_FILE: &str = "ticketwerk.sqlite";
/// The attachment folder inside the data directory.
pub const ATTACHMENTS_DIR: &str = "attachments";
pub const ENV_PREFIX: &str = "TICKETWERK_";
/// Variables with the prefix that are read elsewhere, not settings.
const ENV_NOT_SETTINGS: &[&str] = &[
    "TICKETWERK_CONFIG",
    "TICKETWERK_LOG_FORMAT",
    "TICKETWERK_BROWSER_TESTS",
];
/// Prefixes of the test and benchmark harnesses' variables, which a
/// developer may have exported while running the binary.
const ENV_HARNESS_PREFIXES: &[&str] = &["TICKETWERK_TEST_", "TICKETWERK_BENCH_"];

/// One layer of settings; `None` keeps the value of the layers below. The
/// file format is this struct, so an unknown key (a typo) is an error
/// rather than a silently ignored line.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub attachments_dir: Option<PathBuf>,
    pub provider_name: Option<String>,
    pub office_email: Option<String>,
    pub privacy_url: Option<String>,
    pub insecure_cookies: Option<bool>,
    pub max_attachment_bytes: Option<usize>,
    pub session_idle_secs: Option<i64>,
    pub session_max_secs: Option<i64>,
    pub time_zone: Option<String>,
    pub portal_url: Option<String>,
    pub mail_from: Option<String>,
    pub smtp_url: Option<String>,
    pub smtp_password: Option<String>,
    pub imap_url: Option<String>,
    pub imap_password: Option<String>,
    pub imap_poll_secs: Option<u64>,
    pub mail_templates_dir: Option<PathBuf>,
    pub mail_max_bytes: Option<usize>,
    pub mail_hourly_cap: Option<i64>,
    pub mail_trusted_authserv_id: Option<String>,
    pub local_sign_in: Option<bool>,
    /// The file's `[[identity_providers]]`; environment variables cannot
    /// name providers, only their secrets.
    pub identity_providers: Option<Vec<ProviderLayer>>,
    /// `TICKETWERK_OIDC_<NAME>_CLIENT_SECRET` by provider name (upper
    /// case, `-` as `_`).
    #[serde(skip)]
    pub oidc_secrets: BTreeMap<String, String>,
}

/// One OpenID Connect provider as the file describes it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderLayer {
    pub name: String,
    pub label: Option<String>,
    /// `entra` (Microsoft Entra ID) or `oidc` (any other provider).
    pub kind: Option<String>,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    #[serde(default)]
    pub allowed_tenants: Vec<String>,
    #[serde(default)]
    pub allow_consumer_accounts: bool,
    #[serde(default)]
    pub mfa_acr_values: Vec<String>,
    pub scopes: Option<Vec<String>>,
}

impl Layer {
    /// This layer with `over` laid on top of it.
    pub fn overlay(self, over: Layer) -> Layer {
        Layer {
            listen: over.listen.or(self.listen),
            data_dir: over.data_dir.or(self.data_dir),
            database_url: over.database_url.or(self.database_url),
            attachments_dir: over.attachments_dir.or(self.attachments_dir),
            provider_name: over.provider_name.or(self.provider_name),
            office_email: over.office_email.or(self.office_email),
            privacy_url: over.privacy_url.or(self.privacy_url),
            insecure_cookies: over.insecure_cookies.or(self.insecure_cookies),
            max_attachment_bytes: over.max_attachment_bytes.or(self.max_attachment_bytes),
            session_idle_secs: over.session_idle_secs.or(self.session_idle_secs),
            session_max_secs: over.session_max_secs.or(self.session_max_secs),
            time_zone: over.time_zone.or(self.time_zone),
            portal_url: over.portal_url.or(self.portal_url),
            mail_from: over.mail_from.or(self.mail_from),
            smtp_url: over.smtp_url.or(self.smtp_url),
            smtp_password: over.smtp_password.or(self.smtp_password),
            imap_url: over.imap_url.or(self.imap_url),
            imap_password: over.imap_password.or(self.imap_password),
            imap_poll_secs: over.imap_poll_secs.or(self.imap_poll_secs),
            mail_templates_dir: over.mail_templates_dir.or(self.mail_templates_dir),
            mail_max_bytes: over.mail_max_bytes.or(self.mail_max_bytes),
            mail_hourly_cap: over.mail_hourly_cap.or(self.mail_hourly_cap),
            mail_trusted_authserv_id: over
                .mail_trusted_authserv_id
                .or(self.mail_trusted_authserv_id),
            local_sign_in: over.local_sign_in.or(self.local_sign_in),
            identity_providers: over.identity_providers.or(self.identity_providers),
            oidc_secrets: {
                let mut secrets = self.oidc_secrets;
                secrets.extend(over.oidc_secrets);
                secrets
            },
        }
    }

    pub fn from_toml(text: &str) -> anyhow::Result<Layer> {
        Ok(toml::from_str(text)?)
    }

    pub fn from_file(path: &Path) -> anyhow::Result<Layer> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        Self::from_toml(&text)
            .with_context(|| format!("invalid configuration file {}", path.display()))
    }

    /// The layer of `TICKETWERK_*` variables among `vars`, and the names of
    /// prefixed variables that are no setting (probably typos), so the
    /// caller can warn about them.
    pub fn from_env<I>(vars: I) -> anyhow::Result<(Layer, Vec<String>)>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut layer = Layer::default();
        let mut unknown = Vec::new();
        for (name, value) in vars {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if ENV_NOT_SETTINGS.contains(&name.as_str())
                || ENV_HARNESS_PREFIXES.iter().any(|p| name.starts_with(p))
            {
                continue;
            }
            match key {
                "LISTEN" => layer.listen = Some(value),
                "DATA_DIR" => layer.data_dir = Some(value.into()),
                "DATABASE_URL" => layer.database_url = Some(value),
                "ATTACHMENTS_DIR" => layer.attachments_dir = Some(value.into()),
                "PROVIDER_NAME" => layer.provider_name = Some(value),
                "OFFICE_EMAIL" => layer.office_email = Some(value),
                "PRIVACY_URL" => layer.privacy_url = Some(value),
                "INSECURE_COOKIES" => layer.insecure_cookies = Some(parse_bool(&name, &value)?),
                "MAX_ATTACHMENT_BYTES" => {
                    layer.max_attachment_bytes = Some(parse_number(&name, &value)?)
                }
                "SESSION_IDLE_SECS" => layer.session_idle_secs = Some(parse_number(&name, &value)?),
                "SESSION_MAX_SECS" => layer.session_max_secs = Some(parse_number(&name, &value)?),
                "TIME_ZONE" => layer.time_zone = Some(value),
                "PORTAL_URL" => layer.portal_url = Some(value),
                "MAIL_FROM" => layer.mail_from = Some(value),
                "SMTP_URL" => layer.smtp_url = Some(value),
                "SMTP_PASSWORD" => layer.smtp_password = Some(value),
                "IMAP_URL" => layer.imap_url = Some(value),
                "IMAP_PASSWORD" => layer.imap_password = Some(value),
                "IMAP_POLL_SECS" => layer.imap_poll_secs = Some(parse_number(&name, &value)?),
                "MAIL_TEMPLATES_DIR" => layer.mail_templates_dir = Some(value.into()),
                "MAIL_MAX_BYTES" => layer.mail_max_bytes = Some(parse_number(&name, &value)?),
                "MAIL_HOURLY_CAP" => layer.mail_hourly_cap = Some(parse_number(&name, &value)?),
                "MAIL_TRUSTED_AUTHSERV_ID" => layer.mail_trusted_authserv_id = Some(value),
                "LOCAL_SIGN_IN" => layer.local_sign_in = Some(parse_bool(&name, &value)?),
                _ => match key
                    .strip_prefix("OIDC_")
                    .and_then(|k| k.strip_suffix("_CLIENT_SECRET"))
                {
                    Some(provider) if !provider.is_empty() => {
                        layer.oidc_secrets.insert(provider.to_string(), value);
                    }
                    _ => unknown.push(name),
                },
            }
        }
        Ok((layer, unknown))
    }
}

fn parse_bool(name: &str, value: &str) -> anyhow::Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("{name} must be true or false, not {value:?}"),
    }
}

fn parse_number<T: std::str::FromStr>(name: &str, value: &str) -> anyhow::Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{name} must be a whole number, not {value:?}"))
}

/// The resolved configuration of one installation.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// Absolute, so that messages and the database URL do not depend on
    /// the working directory of whoever reads them.
    pub data_dir: PathBuf,
    pub database_url: String,
    pub attachments_dir: PathBuf,
    pub web: Settings,
    pub mail: MailConfig,
}

/// Mail in and out. Without `smtp_url` notifications are still written to
/// the outbox (the desk sees them waiting) and go out once SMTP is set;
/// without `imap_url` mail comes in only through `ticketwerk mail receive`.
#[derive(Clone)]
pub struct MailConfig {
    /// Where links in mails point: the portal as customers reach it.
    pub portal_url: String,
    /// The desk's address: From of every notification, and where replies go.
    pub from: Email,
    /// `smtp://host:25`, `smtp://user@host:587?tls=required` (STARTTLS),
    /// `smtps://user@host:465` (TLS from the start).
    pub smtp_url: Option<String>,
    pub smtp_password: Option<String>,
    /// `imaps://user@host:993/INBOX` or `imap://user@host:143/INBOX?tls=required`.
    pub imap_url: Option<String>,
    pub imap_password: Option<String>,
    pub imap_poll_secs: u64,
    /// Operator overrides of the notification templates.
    pub templates_dir: Option<PathBuf>,
    /// Larger incoming messages are held for the desk unread.
    pub max_bytes: usize,
    /// Automatic mails to one recipient per hour; beyond it they are
    /// suppressed, which ends any loop that slipped past the other guards.
    pub hourly_cap: i64,
    /// The receiving MTA whose `Authentication-Results` prove a From
    /// address; without it every From is believed.
    pub trusted_authserv_id: Option<String>,
}

impl std::fmt::Debug for MailConfig {
    /// Without the passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("portal_url", &self.portal_url)
            .field("from", &self.from)
            .field("smtp_url", &self.smtp_url.as_deref().map(crate::redact))
            .field("imap_url", &self.imap_url.as_deref().map(crate::redact))
            .field("imap_poll_secs", &self.imap_poll_secs)
            .field("templates_dir", &self.templates_dir)
            .field("max_bytes", &self.max_bytes)
            .field("hourly_cap", &self.hourly_cap)
            .field("trusted_authserv_id", &self.trusted_authserv_id)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_IMAP_POLL_SECS: u64 = 60;
pub const DEFAULT_MAIL_MAX_BYTES: usize = 50 * 1024 * 1024;
pub const DEFAULT_MAIL_HOURLY_CAP: i64 = 20;
/// The operator's template overrides inside the data directory.
pub const MAIL_TEMPLATES_DIR: &str = "mail-templates";

impl Config {
    /// Reads the file (if any) and the process environment, and lays the
    /// command-line layer on top. Unknown `TICKETWERK_*` variables are
    /// reported on stderr, since logging may not be set up yet.
    pub fn load(file: Option<&Path>, cli: Layer) -> anyhow::Result<Config> {
        let file_layer = match file {
            Some(path) => Layer::from_file(path)?,
            None => Layer::default(),
        };
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        let (env_layer, unknown) = Layer::from_env(vars)?;
        for name in unknown {
            eprintln!("warning: ignoring unknown environment variable {name}");
        }
        Config::resolve(file_layer.overlay(env_layer).overlay(cli))
    }

    /// Fills the gaps of a merged layer with defaults and checks the values.
    pub fn resolve(layer: Layer) -> anyhow::Result<Config> {
        let mail_layer = layer.clone();
        let listen = parse_listen(layer.listen.as_deref().unwrap_or(DEFAULT_LISTEN))?;
        let data_dir = layer
            .data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let data_dir = std::path::absolute(&data_dir)
            .with_context(|| format!("invalid data directory {}", data_dir.display()))?;
        let database_url = match layer.database_url {
            Some(url) => url,
            None => sqlite_url(&data_dir.join(DATABASE_FILE))?,
        };
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres:")
            || database_url.starts_with("postgresql:"))
        {
            bail!("the database URL must start with sqlite: or postgres:");
        }
        let attachments_dir = match layer.attachments_dir {
            Some(dir) => std::path::absolute(&dir)
                .with_context(|| format!("invalid attachments directory {}", dir.display()))?,
            None => data_dir.join(ATTACHMENTS_DIR),
        };

        let defaults = Settings::default();
        let web = Settings {
            provider_name: layer.provider_name.unwrap_or(defaults.provider_name),
            office_email: layer.office_email.unwrap_or(defaults.office_email),
            privacy_url: layer.privacy_url.unwrap_or(defaults.privacy_url),
            // Plain HTTP on the same machine works out of the box; anywhere
            // else cookies are `Secure` unless the operator says otherwise
            // (and the web layer refuses insecure cookies off loopback).
            insecure_cookies: layer.insecure_cookies.unwrap_or(listen.ip().is_loopback()),
            max_attachment_bytes: layer
                .max_attachment_bytes
                .unwrap_or(defaults.max_attachment_bytes),
            session_idle_secs: layer
                .session_idle_secs
                .unwrap_or(defaults.session_idle_secs),
            session_max_secs: layer.session_max_secs.unwrap_or(defaults.session_max_secs),
            time_zone: layer.time_zone.unwrap_or(defaults.time_zone),
            // Filled in when the server starts (`mail::settings`): the key
            // lives in the data directory, which the configuration only names.
            mail: defaults.mail,
            portal_url: String::new(),
            local_sign_in: layer.local_sign_in.unwrap_or(true),
            identity_providers: identity_providers(
                layer.identity_providers.unwrap_or_default(),
                &layer.oidc_secrets,
            )?,
        };
        check_web(&web)?;
        let mail = resolve_mail(mail_layer, &web, listen, &data_dir)?;
        // One address of the portal: links in mails, the identity
        // providers' callbacks and the relying party of passkeys.
        let web = Settings {
            portal_url: mail.portal_url.clone(),
            ..web
        };
        Ok(Config {
            listen,
            data_dir,
            database_url,
            attachments_dir,
            web,
            mail,
        })
    }

    /// What the server needs to sign anyone in through the configured
    /// providers: each one's client secret.
    pub fn check_sign_in(&self) -> anyhow::Result<()> {
        for p in &self.web.identity_providers {
            if p.client_secret.is_empty() {
                let env_name = p.name.to_uppercase().replace('-', "_");
                bail!(
                    "identity provider {:?}: no client secret (set \
                     {ENV_PREFIX}OIDC_{env_name}_CLIENT_SECRET or client_secret)",
                    p.name
                );
            }
        }
        Ok(())
    }

    /// The SQLite file, when the database is the default one in the data
    /// directory.
    pub fn default_sqlite_file(&self) -> Option<PathBuf> {
        let file = self.data_dir.join(DATABASE_FILE);
        let url = sqlite_url(&file).ok()?;
        (url == self.database_url).then_some(file)
    }
}

fn resolve_mail(
    layer: Layer,
    web: &Settings,
    listen: SocketAddr,
    data_dir: &Path,
) -> anyhow::Result<MailConfig> {
    let portal_url = layer
        .portal_url
        .unwrap_or_else(|| crate::browser_url(listen))
        .trim_end_matches('/')
        .to_string();
    if !(portal_url.starts_with("http://") || portal_url.starts_with("https://")) {
        bail!("portal_url must start with http:// or https://, not {portal_url:?}");
    }
    let from_raw = layer.mail_from.unwrap_or_else(|| web.office_email.clone());
    let from = Email::parse(&from_raw)
        .map_err(|_| anyhow::anyhow!("mail_from {from_raw:?} is no email address"))?;
    for (name, url, schemes) in [
        ("smtp_url", &layer.smtp_url, ["smtp://", "smtps://"]),
        ("imap_url", &layer.imap_url, ["imap://", "imaps://"]),
    ] {
        if let Some(url) = url
            && !schemes.iter().any(|s| url.starts_with(s))
        {
            bail!("{name} must start with {} or {}", schemes[0], schemes[1]);
        }
    }
    let templates_dir = match layer.mail_templates_dir {
        Some(dir) => Some(dir),
        None => Some(data_dir.join(MAIL_TEMPLATES_DIR)).filter(|d| d.is_dir()),
    };
    let hourly_cap = layer.mail_hourly_cap.unwrap_or(DEFAULT_MAIL_HOURLY_CAP);
    if hourly_cap < 1 {
        bail!("mail_hourly_cap must be at least 1");
    }
    let imap_poll_secs = layer.imap_poll_secs.unwrap_or(DEFAULT_IMAP_POLL_SECS);
    if imap_poll_secs == 0 {
        bail!("imap_poll_secs must be at least 1");
    }
    Ok(MailConfig {
        portal_url,
        from,
        smtp_url: layer.smtp_url,
        smtp_password: layer.smtp_password,
        imap_url: layer.imap_url,
        imap_password: layer.imap_password,
        imap_poll_secs,
        templates_dir,
        max_bytes: layer.mail_max_bytes.unwrap_or(DEFAULT_MAIL_MAX_BYTES),
        hourly_cap,
        trusted_authserv_id: layer
            .mail_trusted_authserv_id
            .map(|id| id.trim().to_string())
            .filter(|id| !id.is_empty()),
    })
}

/// The identity providers of the file, each checked, with its secret from
/// the file or the environment.
fn identity_providers(
    layers: Vec<ProviderLayer>,
    secrets: &BTreeMap<String, String>,
) -> anyhow::Result<Vec<ticketwerk_web::IdentityProvider>> {
    use ticketwerk_domain::identity::ProviderKind;
    let mut names = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for p in layers {
        let name = p.name.trim().to_string();
        let slug = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !slug {
            bail!("identity provider name {name:?}: use 1 to 32 of a-z, 0-9 and -");
        }
        if !names.insert(name.clone()) {
            bail!("identity provider {name:?} is configured twice");
        }
        let issuer = p.issuer.trim().trim_end_matches('/').to_string();
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|l| issuer.starts_with(l));
        if !issuer.starts_with("https://") && !loopback {
            bail!("identity provider {name:?}: the issuer must be an https:// URL");
        }
        if p.client_id.trim().is_empty() {
            bail!("identity provider {name:?}: client_id is missing");
        }
        let env_name = name.to_uppercase().replace('-', "_");
        // A missing secret matters only to the server (`check_sign_in`):
        // `mail receive` and the admin commands read the same file in
        // places that need not know it.
        let secret = secrets
            .get(&env_name)
            .cloned()
            .or(p.client_secret)
            .unwrap_or_default();
        let kind = match p.kind.as_deref().unwrap_or("oidc") {
            "oidc" => ProviderKind::Generic,
            "entra" => {
                if p.allowed_tenants.is_empty() && !p.allow_consumer_accounts {
                    bail!(
                        "identity provider {name:?}: name the allowed_tenants (tenant ids) \
                         that may sign in"
                    );
                }
                ProviderKind::Entra {
                    allowed_tenants: p.allowed_tenants,
                    allow_consumer_accounts: p.allow_consumer_accounts,
                }
            }
            other => bail!("identity provider {name:?}: kind {other:?} (use entra or oidc)"),
        };
        out.push(ticketwerk_web::IdentityProvider {
            label: p.label.unwrap_or_else(|| name.clone()),
            name,
            issuer,
            client_id: p.client_id.trim().to_string(),
            client_secret: secret,
            kind,
            mfa_acr_values: p.mfa_acr_values,
            scopes: p
                .scopes
                .unwrap_or_else(|| vec!["email".to_string(), "profile".to_string()]),
        });
    }
    Ok(out)
}

fn check_web(web: &Settings) -> anyhow::Result<()> {
    if !web.local_sign_in && web.identity_providers.is_empty() {
        bail!("local_sign_in = false needs at least one identity provider to sign in with");
    }
    if web.provider_name.trim().is_empty() {
        bail!("provider_name must not be empty");
    }
    Email::parse(&web.office_email)
        .map_err(|_| anyhow::anyhow!("office_email {:?} is no email address", web.office_email))?;
    if web.privacy_url.trim().is_empty() {
        bail!("privacy_url must not be empty");
    }
    if web.max_attachment_bytes == 0 {
        bail!("max_attachment_bytes must be greater than 0");
    }
    // A session's "last seen" is written at most once a minute, so an idle
    // limit below two minutes would end sessions that are in use.
    if web.session_idle_secs < 120 || web.session_max_secs < 120 {
        bail!("session_idle_secs and session_max_secs must be at least 120 (two minutes)");
    }
    if web.session_idle_secs > web.session_max_secs {
        bail!("session_idle_secs must not exceed session_max_secs");
    }
    // A machine without a time zone database (a bare container) cannot
    // check the name; the web layer then has to cope. Where there is one,
    // a name it does not know is a typo.
    if jiff::tz::TimeZone::get(&web.time_zone).is_err() {
        if jiff::tz::db().is_definitively_empty() {
            eprintln!(
                "warning: no time zone database on this machine; cannot check time_zone {:?}",
                web.time_zone
            );
        } else {
            bail!(
                "unknown time_zone {:?} (expected a name such as Europe/Berlin)",
                web.time_zone
            );
        }
    }
    Ok(())
}

/// Parses `ADDR:PORT`; a host name such as `localhost:8080` is resolved to
/// its first address.
pub fn parse_listen(raw: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = raw.trim().parse::<SocketAddr>() {
        return Ok(addr);
    }
    raw.trim()
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .with_context(|| {
            format!("invalid listen address {raw:?} (expected ADDR:PORT such as 127.0.0.1:8080)")
        })
}

/// `sqlite://<path>?mode=rwc` for a file, creating it when missing. The
/// path is percent-encoded, since sqlx decodes it (so `?`, `#`, `%` and
/// spaces in folder names survive).
pub fn sqlite_url(file: &Path) -> anyhow::Result<String> {
    let path = file
        .to_str()
        .with_context(|| format!("the path {} is not valid UTF-8", file.display()))?;
    let mut url = String::from("sqlite://");
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url.push_str("?mode=rwc");
    Ok(url)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults() {
        let c = Config::resolve(Layer::default()).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert!(c.data_dir.is_absolute() && c.data_dir.ends_with("ticketwerk-data"));
        assert!(c.database_url.starts_with("sqlite:///"));
        assert!(
            c.database_url
                .ends_with("/ticketwerk-data/ticketwerk.sqlite?mode=rwc")
        );
        assert_eq!(c.attachments_dir, c.data_dir.join("attachments"));
        assert!(
            c.web.insecure_cookies,
            "loopback: plain HTTP works out of the box"
        );
        assert!(c.default_sqlite_file().is_some());
    }

    #[test]
    fn insecure_cookies_only_default_on_loopback() {
        let layer = Layer {
            listen: Some("0.0.0.0:8080".into()),
            ..Layer::default()
        };
        assert!(!Config::resolve(layer).unwrap().web.insecure_cookies);
        let layer = Layer {
            listen: Some("[::1]:9000".into()),
            insecure_cookies: Some(false),
            ..Layer::default()
        };
        assert!(!Config::resolve(layer).unwrap().web.insecure_cookies);
    }

    #[test]
    fn layers_override_in_order() {
        let file = Layer::from_toml(
            "listen = \"127.0.0.1:1000\"\nprovider_name = \"Datei\"\ntime_zone = \"UTC\"\n\
             data_dir = \"/srv/tw\"\n",
        )
        .unwrap();
        let (env_layer, unknown) = Layer::from_env(env(&[
            ("TICKETWERK_LISTEN", "127.0.0.1:2000"),
            ("TICKETWERK_SESSION_IDLE_SECS", "600"),
            ("TICKETWERK_CONFIG", "/etc/tw.toml"),
            ("TICKETWERK_LISTN", "typo"),
            ("TICKETWERK_TEST_DATABASE_URL", "postgres://test"),
            ("PATH", "/bin"),
        ]))
        .unwrap();
        assert_eq!(unknown, vec!["TICKETWERK_LISTN".to_string()]);
        let cli = Layer {
            listen: Some("127.0.0.1:3000".into()),
            ..Layer::default()
        };
        let c = Config::resolve(file.overlay(env_layer).overlay(cli)).unwrap();
        assert_eq!(c.listen.port(), 3000);
        assert_eq!(c.web.provider_name, "Datei");
        assert_eq!(c.web.session_idle_secs, 600);
        assert_eq!(c.web.time_zone, "UTC");
        assert_eq!(
            c.database_url,
            "sqlite:///srv/tw/ticketwerk.sqlite?mode=rwc"
        );
        assert_eq!(c.attachments_dir, PathBuf::from("/srv/tw/attachments"));
    }

    #[test]
    fn explicit_database_is_kept() {
        let layer = Layer {
            database_url: Some("postgres://tw@db/tw".into()),
            ..Layer::default()
        };
        let c = Config::resolve(layer).unwrap();
        assert_eq!(c.database_url, "postgres://tw@db/tw");
        assert!(c.default_sqlite_file().is_none());
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Layer::from_toml("listn = \"x\"").is_err());
        assert!(Layer::from_env(env(&[("TICKETWERK_INSECURE_COOKIES", "maybe")])).is_err());
        assert!(Layer::from_env(env(&[("TICKETWERK_SESSION_MAX_SECS", "1h")])).is_err());
        for layer in [
            Layer {
                listen: Some("nowhere".into()),
                ..Layer::default()
            },
            Layer {
                database_url: Some("mysql://x".into()),
                ..Layer::default()
            },
            Layer {
                office_email: Some("office".into()),
                ..Layer::default()
            },
            Layer {
                session_idle_secs: Some(0),
                ..Layer::default()
            },
        ] {
            assert!(Config::resolve(layer).is_err());
        }
    }

    /// The example file documents every setting, and its values are the
    /// defaults.
    #[test]
    fn example_file_is_complete_and_true() {
        let example = include_str!("../../../ticketwerk.example.toml");
        let uncommented: String = example
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()) && l.contains(" = "))
            .map(|l| format!("{l}\n"))
            .collect();
        let layer = Layer::from_toml(&uncommented).unwrap();
        let text = format!("{layer:?}");
        assert!(!text.contains("None"), "undocumented setting: {text}");
        let example = Config::resolve(layer).unwrap();
        let defaults = Config::resolve(Layer::default()).unwrap();
        assert_eq!(format!("{:?}", example.web), format!("{:?}", defaults.web));
        assert_eq!(example.listen, defaults.listen);
        assert_eq!(example.attachments_dir, defaults.attachments_dir);
    }

    #[test]
    fn identity_providers_come_from_the_file_with_secrets_from_the_environment() {
        let file = Layer::from_toml(
            r#"
            local_sign_in = false
            [[identity_providers]]
            name = "entra-kunden"
            label = "Microsoft"
            kind = "entra"
            issuer = "https://login.microsoftonline.com/organizations/v2.0/"
            client_id = "app-id"
            allowed_tenants = ["t1"]
            "#,
        )
        .unwrap();
        let vars = [(
            "TICKETWERK_OIDC_ENTRA_KUNDEN_CLIENT_SECRET".to_string(),
            "s3cret".to_string(),
        )];
        let (env, unknown) = Layer::from_env(vars).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        let config = Config::resolve(file.overlay(env)).unwrap();
        let p = &config.web.identity_providers[0];
        assert_eq!(p.name, "entra-kunden");
        assert_eq!(
            p.issuer,
            "https://login.microsoftonline.com/organizations/v2.0"
        );
        assert_eq!(p.client_secret, "s3cret");
        assert_eq!(p.scopes, ["email", "profile"]);
        assert!(!config.web.local_sign_in);
        assert!(
            !format!("{config:?}").contains("s3cret"),
            "the secret is never printed"
        );
    }

    #[test]
    fn identity_providers_that_cannot_work_are_refused_at_start() {
        let provider = |extra: &str| {
            Layer::from_toml(&format!(
                "[[identity_providers]]\nname = \"idp\"\nclient_id = \"c\"\n\
                 client_secret = \"s\"\n{extra}"
            ))
            .unwrap()
        };
        for (layer, why) in [
            (
                provider("issuer = \"http://id.example\""),
                "plain http off loopback",
            ),
            (
                provider("issuer = \"https://id.example\"\nkind = \"saml\""),
                "unknown kind",
            ),
            (
                provider("issuer = \"https://id.example\"\nkind = \"entra\""),
                "entra without allowed tenants",
            ),
            (
                Layer::from_toml("local_sign_in = false").unwrap(),
                "no way to sign in at all",
            ),
            (
                Layer::from_toml(
                    "[[identity_providers]]\nname = \"Bad Name\"\n\
                     issuer = \"https://id.example\"\nclient_id = \"c\"\nclient_secret = \"s\"",
                )
                .unwrap(),
                "name not fit for a URL",
            ),
        ] {
            assert!(Config::resolve(layer).is_err(), "accepted: {why}");
        }
        // Without a secret the file is fine for the mail door, not for
        // the server.
        let no_secret = Layer::from_toml(
            "[[identity_providers]]\nname = \"idp\"\n\
             issuer = \"https://id.example\"\nclient_id = \"c\"",
        )
        .unwrap();
        let config = Config::resolve(no_secret).unwrap();
        let refused = config.check_sign_in().unwrap_err().to_string();
        assert!(
            refused.contains("TICKETWERK_OIDC_IDP_CLIENT_SECRET"),
            "{refused}"
        );
        assert!(Config::resolve(provider("issuer = \"http://127.0.0.1:9000\"")).is_ok());
    }

    #[test]
    fn sqlite_paths_are_encoded() {
        let url = sqlite_url(Path::new("/tmp/a b/#1?/x.sqlite")).unwrap();
        assert_eq!(url, "sqlite:///tmp/a%20b/%231%3F/x.sqlite?mode=rwc");
    }
}
