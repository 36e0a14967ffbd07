//! The Ticketwerk binary as a library: configuration, the demo data set,
//! administration commands and the helpers that start a server, so that
//! integration tests run exactly what `ticketwerk serve` runs.

pub mod admin;
pub mod cli;
pub mod config;
pub mod demo;
pub mod mail;

use std::net::SocketAddr;

use anyhow::Context;
use ticketwerk_storage::{FileStore, Store};
use ticketwerk_web::App;

pub use config::Config;

/// The current time in Unix seconds, the clock of every command.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Logs to stderr: JSON lines when `TICKETWERK_LOG_FORMAT=json` (for log
/// collectors), readable text otherwise; the filter comes from `RUST_LOG`
/// and defaults to `info`. Calling it twice is harmless (tests do).
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("TICKETWERK_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // Colours only for a person at a terminal: a file, a journal or an
    // MTA's bounce (which quotes the pipe's output) gets plain text.
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Creates the data and attachment folders and opens the database, which
/// applies the migrations.
pub async fn open_storage(config: &Config) -> anyhow::Result<(Store, FileStore)> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    std::fs::create_dir_all(&config.attachments_dir).with_context(|| {
        format!(
            "cannot create the attachments directory {}",
            config.attachments_dir.display()
        )
    })?;
    let store = Store::open(&config.database_url)
        .await
        .with_context(|| format!("cannot open the database {}", redact(&config.database_url)))?;
    Ok((store, FileStore::new(&config.attachments_dir)))
}

/// A database URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_string(),
    }
}

/// Binds the listener of the configured address (port 0 picks a free one).
pub async fn bind(config: &Config) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))
}

/// The address a browser on this machine opens: an unspecified listen
/// address (`0.0.0.0`, `::`) is reached through loopback.
pub fn browser_url(local: SocketAddr) -> String {
    let ip = match local.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        std::net::IpAddr::V4(ip) => ip.to_string(),
    };
    format!("http://{ip}:{}/", local.port())
}

/// A hint about cookies and plain HTTP, for the operator at start-up, and
/// whether it warns of something that is probably not intended.
pub fn cookie_hint(config: &Config) -> (bool, String) {
    let loopback = config.listen.ip().is_loopback();
    match (config.web.insecure_cookies, loopback) {
        (true, true) => (
            false,
            "Cookies are sent over plain HTTP (insecure_cookies), which is fine on this machine \
             only. Behind a TLS proxy set TICKETWERK_INSECURE_COOKIES=false."
                .into(),
        ),
        (true, false) => (
            true,
            "insecure_cookies is ignored: the server does not listen on loopback, so cookies \
             stay Secure and the portal needs HTTPS (a TLS-terminating reverse proxy)."
                .into(),
        ),
        (false, true) => (
            true,
            "Cookies are Secure: open the portal through HTTPS. For plain HTTP on this machine \
             pass --insecure-cookies (or TICKETWERK_INSECURE_COOKIES=true)."
                .into(),
        ),
        (false, false) => (
            false,
            "Cookies are Secure: put a TLS-terminating reverse proxy in front of this address."
                .into(),
        ),
    }
}

/// A server started in the background, for tests and `demo`.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// `http://ADDR:PORT/` of the server.
    pub fn url(&self) -> String {
        browser_url(self.addr)
    }
}

/// Builds the app on open storage and serves it on `listener` in a
/// background task.
pub async fn spawn_server(
    listener: tokio::net::TcpListener,
    store: Store,
    files: FileStore,
    config: &Config,
) -> anyhow::Result<RunningServer> {
    let addr = listener
        .local_addr()
        .context("reading the listen address")?;
    let mut settings = config.web.clone();
    settings.mail = crate::mail::settings(config, crate::mail::message_id_key(&store).await?);
    let app = App::new(store, files, settings).context("building the web app")?;
    let handle = tokio::spawn(ticketwerk_web::serve(listener, app));
    Ok(RunningServer { addr, handle })
}

/// Opens storage, binds and serves in the background: what `serve` does,
/// without waiting. With `listen` on port 0 tests get a free port.
pub async fn start(config: &Config) -> anyhow::Result<(RunningServer, Store, FileStore)> {
    config.check_sign_in()?;
    let (store, files) = open_storage(config).await?;
    let listener = bind(config).await?;
    let server = spawn_server(listener, store.clone(), files.clone(), config).await?;
    spawn_mail_workers(config, &store, &files).await?;
    Ok((server, store, files))
}

/// Starts polling the mailbox when IMAP is configured and sending the
/// outbox when SMTP is. The templates are loaded and checked first, so a
/// broken override stops the start with its file's name.
pub async fn spawn_mail_workers(
    config: &Config,
    store: &Store,
    files: &FileStore,
) -> anyhow::Result<()> {
    ticketwerk_mailroom::install_tls_provider();
    let templates = ticketwerk_mail::Templates::load(config.mail.templates_dir.as_deref())
        .context("loading the mail templates")?;
    if let Some(url) = &config.mail.imap_url {
        let settings = ticketwerk_mailroom::imap::ImapSettings::new(
            url,
            config.mail.imap_password.as_deref(),
            config.mail.imap_poll_secs,
        )
        .with_context(|| format!("invalid IMAP settings for {}", redact(url)))?;
        let inbox = crate::mail::ingest(config, store.clone(), files.clone()).await?;
        // Unique per process: the lease says which instance polls.
        let holder = format!(
            "{}-{}-{:08x}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "ticketwerk".into()),
            std::process::id(),
            rand::random::<u32>()
        );
        tracing::info!(imap = %redact(url), %holder, "polling the mailbox");
        if config.mail.trusted_authserv_id.is_none() {
            // Every From is believed: anyone who knows a customer's address
            // and a ticket number can write on that ticket in their name.
            tracing::warn!(
                target: "security",
                event = "mail_senders_unproven",
                "mail_trusted_authserv_id is not set: incoming mail counts as its From \
                 address says; set it to the receiving MTA's authserv-id"
            );
        }
        tokio::spawn(ticketwerk_mailroom::imap::run(
            settings,
            store.clone(),
            inbox,
            holder,
            std::future::pending::<()>(),
        ));
    }
    let Some(url) = &config.mail.smtp_url else {
        tracing::info!("no smtp_url: notifications wait in the outbox until SMTP is configured");
        return Ok(());
    };
    let transport =
        ticketwerk_mailroom::outbox::smtp_transport(url, config.mail.smtp_password.as_deref())
            .with_context(|| format!("invalid smtp_url {}", redact(url)))?;
    let settings = ticketwerk_mailroom::outbox::OutboxSettings {
        provider_name: config.web.provider_name.clone(),
        from: config.mail.from.clone(),
        own_addresses: own_addresses(config),
        portal_url: config.mail.portal_url.clone(),
        hourly_cap: config.mail.hourly_cap,
        message_id_key: crate::mail::message_id_key(store).await?,
    };
    let outbox = ticketwerk_mailroom::outbox::Outbox::new(
        store.clone(),
        std::sync::Arc::new(templates),
        settings,
        transport,
        std::sync::Arc::new(ticketwerk_web::status_label),
    );
    tracing::info!(smtp = %redact(url), "sending notifications");
    tokio::spawn(outbox.run());
    Ok(())
}

/// The name of the installation secret that signs our Message-IDs.
pub const MESSAGE_ID_KEY: &str = "message_id_key";

/// The addresses that are ours: mail to them would come back in.
pub fn own_addresses(config: &Config) -> Vec<ticketwerk_domain::Email> {
    let mut own = vec![config.mail.from.clone()];
    if let Ok(office) = ticketwerk_domain::Email::parse(&config.web.office_email)
        && !own.contains(&office)
    {
        own.push(office);
    }
    own
}

/// Waits until the server stops or the process is asked to stop (Ctrl-C,
/// SIGTERM), then closes the database cleanly so SQLite checkpoints its
/// write-ahead log.
pub async fn run_until_stopped(server: RunningServer, store: Store) -> anyhow::Result<()> {
    let result = tokio::select! {
        joined = server.handle => match joined {
            Ok(result) => result,
            Err(e) => Err(anyhow::anyhow!("the server task failed: {e}")),
        },
        () = shutdown_signal() => {
            tracing::info!("shutting down");
            Ok(())
        }
    };
    store.close().await;
    result
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://tw:geheim@db:5432/tw"),
            "postgres://tw:***@db:5432/tw"
        );
        assert_eq!(
            redact("sqlite:///srv/tw.sqlite?mode=rwc"),
            "sqlite:///srv/tw.sqlite?mode=rwc"
        );
        assert_eq!(
            redact("postgres://db/tw?user=a@b"),
            "postgres://db/tw?user=a@b"
        );
    }

    #[test]
    fn browser_urls() {
        let url = |s: &str| browser_url(s.parse().unwrap_or_else(|_| panic!("{s}")));
        assert_eq!(url("0.0.0.0:8080"), "http://127.0.0.1:8080/");
        assert_eq!(url("[::]:8080"), "http://[::1]:8080/");
        assert_eq!(url("10.0.0.5:80"), "http://10.0.0.5:80/");
    }
}
