//! The IMAP poller: fetches the waiting messages of one mailbox, hands each
//! to an [`Inbox`] and marks it in the mailbox once the inbox has taken it.
//!
//! The mailbox itself keeps the state, so the database needs no UIDs and no
//! UIDVALIDITY bookkeeping, and nothing is moved or deleted: the originals
//! stay under the mail provider's retention rules.
//! - done: `\Seen` and the keyword [`DONE_KEYWORD`], set only after
//!   [`Inbox::deliver`] returned `Stored` or `Duplicate`;
//! - refused for good ([`DeliveryError::Permanent`]): `\Flagged` and
//!   [`REFUSED_KEYWORD`], so it is not tried again but a person finds it;
//! - a temporary failure sets nothing, and the next poll tries again.
//!
//! The poller looks for messages without either keyword, not for unseen
//! ones, so someone reading the mailbox in a mail program hides nothing
//! from it. Servers that allow no keywords of our own (no `\*` among the
//! PERMANENTFLAGS of the mailbox) get `\Seen` alone, and then the poller
//! takes what is unseen.
//!
//! Marking comes after the inbox's commit, never before. A crash between
//! the two makes the next poll deliver the message again, and the inbox
//! answers [`Delivered::Duplicate`] (it knows the Message-ID); then the
//! message is marked. A shutdown in the middle of a poll is the same.
//!
//! Only one instance polls at a time, even with many on one database: a
//! poll takes the lease [`LEASE_NAME`], renews it before each message, and
//! is skipped while another instance holds it.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::types::{Fetch, Flag};
use async_imap::{Client, Session};
use futures_util::TryStreamExt;
use ticketwerk_storage::{StorageError, Store};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, RootCertStore};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::{Delivered, DeliveryError, Inbox};

/// The lease in the database that makes one instance the poller.
pub const LEASE_NAME: &str = "imap_poller";
/// The keyword of a message the inbox has taken.
pub const DONE_KEYWORD: &str = "$TicketwerkDone";
/// The keyword of a message the inbox will never take.
pub const REFUSED_KEYWORD: &str = "$TicketwerkRefused";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Long enough to fetch a message at the size limit over a slow line.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(10);
/// Failed polls are retried ever later, but at least this often.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(15 * 60);

/// How the connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// `imap://`: no TLS at all, allowed to a loopback address only, since
    /// the password would cross the network in clear.
    Plain,
    /// `imap://…?tls=required`: STARTTLS, refusing to go on without it.
    StartTls,
    /// `imaps://`: TLS from the first byte.
    Tls,
}

/// A parsed `imap_url`: `imaps://user@host:993/INBOX`,
/// `imap://user@host:143/INBOX?tls=required`, or `imap://user@127.0.0.1/`.
/// The port defaults to 993 or 143, the mailbox to INBOX.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImapUrl {
    pub security: Security,
    /// A name or an IP address, without brackets.
    pub host: String,
    pub port: u16,
    pub user: String,
    pub mailbox: String,
}

impl ImapUrl {
    /// Refusals never repeat the URL, in case a password was put into it.
    pub fn parse(raw: &str) -> Result<Self, ImapError> {
        let url = url::Url::parse(raw).map_err(|e| config(format!("not a URL ({e})")))?;
        let mut tls = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "tls" if value == "required" => tls = Some(()),
                "tls" => return Err(config("the only value of tls= is required")),
                _ => return Err(config(format!("unknown parameter {key:?}"))),
            }
        }
        let security = match (url.scheme(), tls) {
            ("imaps", _) => Security::Tls,
            ("imap", Some(())) => Security::StartTls,
            ("imap", None) => Security::Plain,
            _ => return Err(config("the scheme must be imap or imaps")),
        };
        if url.password().is_some() {
            return Err(config(
                "the password belongs in imap_password (TICKETWERK_IMAP_PASSWORD), \
                 not in the URL",
            ));
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) => name.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(config("no host")),
        };
        let user = percent_decode(url.username())?;
        if user.is_empty() {
            return Err(config("no user: imaps://USER@host/INBOX"));
        }
        let mailbox = percent_decode(url.path().trim_start_matches('/'))?;
        let parsed = Self {
            security,
            port: url.port().unwrap_or(match security {
                Security::Tls => 993,
                _ => 143,
            }),
            host,
            user,
            mailbox: if mailbox.is_empty() {
                "INBOX".to_string()
            } else {
                mailbox
            },
        };
        if parsed.security == Security::Plain && !parsed.is_loopback() {
            return Err(config(
                "imap:// without TLS only to a loopback address; use imaps:// or \
                 imap://…?tls=required",
            ));
        }
        Ok(parsed)
    }

    fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// `host:port` for logs and errors: no user, no password.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn config(reason: impl Into<String>) -> ImapError {
    ImapError::Config(reason.into())
}

/// `%XX` escapes of a URL's user or path, as UTF-8. A `+` stays a `+`
/// (`desk+imap@provider.example` is a common user name).
fn percent_decode(raw: &str) -> Result<String, ImapError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| config("a broken %-escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| config("a %-escape that is not UTF-8"))
}

/// What the poller needs: where, who, how often, which certificates.
#[derive(Clone)]
pub struct ImapSettings {
    pub url: ImapUrl,
    password: String,
    pub poll_every: Duration,
    /// The operating system's trusted roots, plus any added for a private CA.
    roots: Arc<RootCertStore>,
}

impl std::fmt::Debug for ImapSettings {
    /// Without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapSettings")
            .field("url", &self.url)
            .field("poll_every", &self.poll_every)
            .field("roots", &self.roots.len())
            .finish_non_exhaustive()
    }
}

impl ImapSettings {
    /// From `MailConfig`'s `imap_url`, `imap_password` and `imap_poll_secs`.
    pub fn new(url: &str, password: Option<&str>, poll_secs: u64) -> Result<Self, ImapError> {
        let url = ImapUrl::parse(url)?;
        let password = password
            .filter(|p| !p.is_empty())
            .ok_or_else(|| config("no imap_password (TICKETWERK_IMAP_PASSWORD)"))?
            .to_string();
        if poll_secs == 0 {
            return Err(config("imap_poll_secs must be at least 1"));
        }
        let mut roots = RootCertStore::empty();
        if url.security != Security::Plain {
            let native = rustls_native_certs::load_native_certs();
            for error in &native.errors {
                warn!(%error, "a trusted root certificate of the system cannot be read");
            }
            let (added, ignored) = roots.add_parsable_certificates(native.certs);
            debug!(added, ignored, "trusted root certificates for IMAP");
        }
        Ok(Self {
            url,
            password,
            poll_every: Duration::from_secs(poll_secs),
            roots: Arc::new(roots),
        })
    }

    /// Also trusts `root`: a private CA, or a self-signed server.
    pub fn with_root_certificate(
        mut self,
        root: CertificateDer<'static>,
    ) -> Result<Self, ImapError> {
        Arc::make_mut(&mut self.roots)
            .add(root)
            .map_err(|e| config(format!("an unusable root certificate ({e})")))?;
        Ok(self)
    }

    /// A poller that died is replaced after this; the living one renews
    /// long before, at each poll and each message.
    fn lease_secs(&self) -> i64 {
        let poll = i64::try_from(self.poll_every.as_secs()).unwrap_or(i64::MAX / 4);
        poll.saturating_mul(3).max(300)
    }
}

/// Why a poll failed. Nothing in it names the password.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("invalid IMAP settings: {0}")]
    Config(String),
    #[error("cannot connect to the IMAP server {server}")]
    Connect {
        server: String,
        #[source]
        source: io::Error,
    },
    #[error("no TLS with the IMAP server {server}")]
    Tls {
        server: String,
        #[source]
        source: io::Error,
    },
    #[error("the IMAP server refused the login of {user}")]
    Login {
        user: String,
        #[source]
        source: async_imap::error::Error,
    },
    #[error("IMAP failed while {step}")]
    Imap {
        step: &'static str,
        #[source]
        source: async_imap::error::Error,
    },
    #[error("the IMAP server did not answer in time while {step}")]
    Timeout { step: &'static str },
    #[error("the IMAP server closed the connection while {step}")]
    Closed { step: &'static str },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What one poll did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    /// False when another instance held the lease: nothing was done.
    pub polled: bool,
    /// Messages waiting when the poll began.
    pub found: usize,
    pub stored: usize,
    pub duplicates: usize,
    /// Left in the mailbox for the next poll.
    pub temporary: usize,
    /// Flagged as refused, for a person.
    pub permanent: usize,
    /// The lease went to another instance during the poll, which then
    /// stopped (this instance had stalled longer than the lease).
    pub lease_lost: bool,
}

/// Polls every `settings.poll_every` until `shutdown` completes, then
/// gives up the lease. A failed poll (server away, login refused, database
/// away) is logged and retried after a pause that doubles with each
/// failure in a row, up to 15 minutes (or the poll interval, if longer).
pub async fn run<I: Inbox>(
    settings: ImapSettings,
    store: Store,
    inbox: I,
    holder: String,
    shutdown: impl Future<Output = ()> + Send,
) {
    tokio::pin!(shutdown);
    info!(
        server = %settings.url.server(),
        mailbox = %settings.url.mailbox,
        every_secs = settings.poll_every.as_secs(),
        "polling IMAP"
    );
    let mut failures = 0_u32;
    loop {
        let outcome = tokio::select! {
            () = &mut shutdown => break,
            outcome = poll_once(&settings, &store, &inbox, &holder) => outcome,
        };
        let pause = match outcome {
            Ok(_) => {
                failures = 0;
                settings.poll_every
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let pause = retry_pause(failures, settings.poll_every);
                warn!(
                    error = %Chain(&error),
                    failures,
                    retry_in_secs = pause.as_secs(),
                    "IMAP poll failed"
                );
                pause
            }
        };
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(pause) => {}
        }
    }
    if let Err(error) = store.release(LEASE_NAME, &holder).await {
        warn!(error = %Chain(&error), "the IMAP lease could not be released; it expires");
    }
    info!("IMAP poller stopped");
}

/// The pause after `failures` failed polls in a row.
fn retry_pause(failures: u32, every: Duration) -> Duration {
    let factor = 1_u32 << failures.saturating_sub(1).min(16);
    every.saturating_mul(factor).min(MAX_RETRY_PAUSE.max(every))
}

/// One poll, if this instance gets the lease: connect, log in, deliver
/// every waiting message in UID order and mark it, log out.
pub async fn poll_once<I: Inbox>(
    settings: &ImapSettings,
    store: &Store,
    inbox: &I,
    holder: &str,
) -> Result<PollReport, ImapError> {
    let span = info_span!(
        "imap_poll",
        server = %settings.url.server(),
        mailbox = %settings.url.mailbox,
        holder,
    );
    async {
        if !store
            .try_lease(LEASE_NAME, holder, now(), settings.lease_secs())
            .await?
        {
            debug!("another instance polls IMAP; skipped");
            return Ok(PollReport::default());
        }
        let mut session = connect(settings).await?;
        let report = deliver_waiting(&mut session, settings, store, inbox, holder).await;
        // A courtesy to the server: what was delivered is marked already.
        let _ = tokio::time::timeout(LOGOUT_TIMEOUT, session.logout()).await;
        let report = report?;
        info!(
            found = report.found,
            stored = report.stored,
            duplicates = report.duplicates,
            temporary = report.temporary,
            permanent = report.permanent,
            lease_lost = report.lease_lost,
            "IMAP poll done"
        );
        Ok(report)
    }
    .instrument(span)
    .await
}

async fn deliver_waiting<I: Inbox>(
    session: &mut Session<Connection>,
    settings: &ImapSettings,
    store: &Store,
    inbox: &I,
    holder: &str,
) -> Result<PollReport, ImapError> {
    let mailbox = imap(
        "selecting the mailbox",
        session.select(&settings.url.mailbox),
    )
    .await?;
    let marking = Marking::for_mailbox(&mailbox.permanent_flags);
    let mut uids: Vec<u32> = imap("searching", session.uid_search(marking.waiting()))
        .await?
        .into_iter()
        .collect();
    uids.sort_unstable();
    let mut report = PollReport {
        polled: true,
        found: uids.len(),
        ..PollReport::default()
    };
    for uid in uids {
        if !store
            .try_lease(LEASE_NAME, holder, now(), settings.lease_secs())
            .await?
        {
            warn!("the IMAP lease went to another instance; this poll stops");
            report.lease_lost = true;
            break;
        }
        let Some(raw) = fetch(session, uid).await? else {
            // Expunged by someone else since the search.
            continue;
        };
        match inbox.deliver(&raw).await {
            Ok(delivered) => {
                mark(session, uid, &marking.done()).await?;
                match delivered {
                    Delivered::Stored => report.stored += 1,
                    Delivered::Duplicate => report.duplicates += 1,
                }
            }
            Err(DeliveryError::Temporary(reason)) => {
                // The others may still go in; this one waits for the next poll.
                warn!(uid, %reason, "message left in the mailbox for the next poll");
                report.temporary += 1;
            }
            Err(DeliveryError::Permanent(reason)) => {
                warn!(uid, %reason, "message refused; flagged in the mailbox for a person");
                mark(session, uid, &marking.refused()).await?;
                report.permanent += 1;
            }
        }
    }
    Ok(report)
}

/// Which flags record the poller's work in this mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marking {
    Keywords,
    /// The server keeps no keywords of ours: `\Seen` alone means done.
    SeenOnly,
}

impl Marking {
    fn for_mailbox(permanent: &[Flag<'_>]) -> Self {
        let ours = |k: &str| {
            permanent
                .iter()
                .any(|f| matches!(f, Flag::Custom(c) if c == k))
        };
        let may_create = permanent.iter().any(|f| matches!(f, Flag::MayCreate));
        if may_create || (ours(DONE_KEYWORD) && ours(REFUSED_KEYWORD)) {
            Marking::Keywords
        } else {
            Marking::SeenOnly
        }
    }

    /// The search for messages still to deliver.
    fn waiting(self) -> String {
        match self {
            Marking::Keywords => {
                format!("NOT DELETED NOT KEYWORD {DONE_KEYWORD} NOT KEYWORD {REFUSED_KEYWORD}")
            }
            Marking::SeenOnly => "UNSEEN NOT DELETED".to_string(),
        }
    }

    fn done(self) -> String {
        match self {
            Marking::Keywords => format!("\\Seen {DONE_KEYWORD}"),
            Marking::SeenOnly => "\\Seen".to_string(),
        }
    }

    fn refused(self) -> String {
        match self {
            Marking::Keywords => format!("\\Flagged {REFUSED_KEYWORD}"),
            Marking::SeenOnly => "\\Seen \\Flagged".to_string(),
        }
    }
}

/// The raw message, or None if it is gone. PEEK, so that fetching alone
/// does not set `\Seen`: a message is seen only once it is done.
async fn fetch(session: &mut Session<Connection>, uid: u32) -> Result<Option<Vec<u8>>, ImapError> {
    imap("fetching a message", async {
        let fetches: Vec<Fetch> = session
            .uid_fetch(uid.to_string(), "BODY.PEEK[]")
            .await?
            .try_collect()
            .await?;
        // Unsolicited FETCH responses about other messages may come along.
        Ok(fetches
            .into_iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| f.body().map(<[u8]>::to_vec)))
    })
    .await
}

async fn mark(session: &mut Session<Connection>, uid: u32, flags: &str) -> Result<(), ImapError> {
    imap("marking a message", async {
        session
            .uid_store(uid.to_string(), format!("+FLAGS.SILENT ({flags})"))
            .await?
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    })
    .await
}

/// Connects, secures and logs in, each step with a time limit.
async fn connect(settings: &ImapSettings) -> Result<Session<Connection>, ImapError> {
    let url = &settings.url;
    let tcp = timed(
        "connecting",
        CONNECT_TIMEOUT,
        TcpStream::connect((url.host.as_str(), url.port)),
    )
    .await?
    .map_err(|source| ImapError::Connect {
        server: url.server(),
        source,
    })?;
    let stream = match url.security {
        Security::Plain => greeted(Connection::Plain(tcp)).await?,
        Security::Tls => greeted(Connection::Tls(Box::new(tls(settings, tcp).await?))).await?,
        Security::StartTls => {
            let mut plain = greeted(tcp).await?;
            imap(
                "starting TLS",
                plain.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            // Anything the server sent before the handshake is dropped with
            // the plain client, as STARTTLS requires; no greeting follows.
            let tcp = plain.into_inner();
            Client::new(Connection::Tls(Box::new(tls(settings, tcp).await?)))
        }
    };
    timed(
        "logging in",
        CONNECT_TIMEOUT,
        stream.login(&url.user, &settings.password),
    )
    .await?
    .map_err(|(source, _)| ImapError::Login {
        user: url.user.clone(),
        source,
    })
}

/// A client on `stream` once the server's greeting is read.
async fn greeted<T>(stream: T) -> Result<Client<T>, ImapError>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let mut client = Client::new(stream);
    let step = "reading the greeting";
    match timed(step, CONNECT_TIMEOUT, client.read_response()).await? {
        Ok(Some(_)) => Ok(client),
        Ok(None) => Err(ImapError::Closed { step }),
        Err(source) => Err(ImapError::Imap {
            step,
            source: source.into(),
        }),
    }
}

async fn tls(settings: &ImapSettings, tcp: TcpStream) -> Result<TlsStream<TcpStream>, ImapError> {
    let server = settings.url.server();
    let failed = |source: io::Error| ImapError::Tls {
        server: server.clone(),
        source,
    };
    // The provider is named rather than taken from the crate features, which
    // would be ambiguous once another dependency brings a second one.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| failed(io::Error::other(e)))?
        .with_root_certificates(settings.roots.clone())
        .with_no_client_auth();
    let name =
        ServerName::try_from(settings.url.host.clone()).map_err(|e| failed(io::Error::other(e)))?;
    let connector = TlsConnector::from(Arc::new(config));
    timed(
        "starting TLS",
        CONNECT_TIMEOUT,
        connector.connect(name, tcp),
    )
    .await?
    .map_err(failed)
}

async fn timed<T>(
    step: &'static str,
    limit: Duration,
    work: impl Future<Output = T>,
) -> Result<T, ImapError> {
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| ImapError::Timeout { step })
}

/// One IMAP command with the usual time limit and its step named.
async fn imap<T>(
    step: &'static str,
    command: impl Future<Output = async_imap::error::Result<T>>,
) -> Result<T, ImapError> {
    timed(step, COMMAND_TIMEOUT, command)
        .await?
        .map_err(|source| ImapError::Imap { step, source })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// An error with its causes, for one log field.
struct Chain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// The connection under the IMAP client: plain TCP or TLS over it.
#[derive(Debug)]
enum Connection {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_flush(cx),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parsed(url: &str) -> ImapUrl {
        ImapUrl::parse(url).unwrap()
    }

    fn refused(url: &str) -> String {
        match ImapUrl::parse(url) {
            Err(ImapError::Config(reason)) => reason,
            other => panic!("{url} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn the_three_url_forms() {
        assert_eq!(
            parsed("imaps://desk@mail.provider.example:993/INBOX"),
            ImapUrl {
                security: Security::Tls,
                host: "mail.provider.example".into(),
                port: 993,
                user: "desk".into(),
                mailbox: "INBOX".into(),
            }
        );
        let starttls = parsed("imap://desk@mail.provider.example:143/INBOX?tls=required");
        assert_eq!(starttls.security, Security::StartTls);
        assert_eq!(starttls.port, 143);
        let plain = parsed("imap://desk@127.0.0.1:14300/INBOX");
        assert_eq!(plain.security, Security::Plain);
        assert_eq!(plain.server(), "127.0.0.1:14300");
    }

    #[test]
    fn ports_and_mailbox_have_defaults_and_escapes_are_decoded() {
        let url = parsed("imaps://desk%2Bimap%40provider.example@mail.provider.example");
        assert_eq!(url.port, 993);
        assert_eq!(url.mailbox, "INBOX");
        assert_eq!(url.user, "desk+imap@provider.example");
        let url = parsed("imap://desk+in@mail.example/Support%20Eingang?tls=required");
        assert_eq!(url.port, 143);
        assert_eq!(url.user, "desk+in");
        assert_eq!(url.mailbox, "Support Eingang");
        let url = parsed("imap://desk@[::1]:1430/");
        assert_eq!(url.host, "::1");
        assert_eq!(url.server(), "[::1]:1430");
        assert_eq!(parsed("imap://desk@localhost/").security, Security::Plain);
    }

    #[test]
    fn unsafe_or_unclear_urls_are_refused_without_repeating_them() {
        assert!(refused("imap://desk@mail.provider.example/INBOX").contains("loopback"));
        let reason = refused("imaps://desk:hunter2@mail.provider.example/INBOX");
        assert!(reason.contains("TICKETWERK_IMAP_PASSWORD"));
        assert!(!reason.contains("hunter2"));
        assert!(refused("imaps://mail.provider.example/INBOX").contains("no user"));
        assert!(refused("imap://desk@mail.example/?tls=yes").contains("required"));
        assert!(refused("imap://desk@mail.example/?tsl=required").contains("unknown"));
        assert!(refused("pop3://desk@mail.example/").contains("scheme"));
        assert!(refused("imaps://desk%ZZ@mail.example/").contains("escape"));
    }

    #[test]
    fn settings_need_a_password_and_never_show_it() {
        let url = "imap://desk@127.0.0.1:14300/INBOX";
        assert!(matches!(
            ImapSettings::new(url, None, 60),
            Err(ImapError::Config(_))
        ));
        assert!(matches!(
            ImapSettings::new(url, Some("pw"), 0),
            Err(ImapError::Config(_))
        ));
        let settings = ImapSettings::new(url, Some("hunter2"), 60).unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert_eq!(settings.lease_secs(), 300);
        let slow = ImapSettings::new(url, Some("pw"), 600).unwrap();
        assert_eq!(slow.lease_secs(), 1800);
    }

    #[test]
    fn keywords_are_used_where_the_mailbox_keeps_them() {
        let with_star = [Flag::Seen, Flag::Flagged, Flag::MayCreate];
        assert_eq!(Marking::for_mailbox(&with_star), Marking::Keywords);
        let listed = [
            Flag::Seen,
            Flag::Custom(DONE_KEYWORD.into()),
            Flag::Custom(REFUSED_KEYWORD.into()),
        ];
        assert_eq!(Marking::for_mailbox(&listed), Marking::Keywords);
        let plain = [Flag::Seen, Flag::Flagged, Flag::Deleted];
        assert_eq!(Marking::for_mailbox(&plain), Marking::SeenOnly);

        let k = Marking::Keywords;
        assert_eq!(
            k.waiting(),
            "NOT DELETED NOT KEYWORD $TicketwerkDone NOT KEYWORD $TicketwerkRefused"
        );
        assert_eq!(k.done(), "\\Seen $TicketwerkDone");
        assert_eq!(k.refused(), "\\Flagged $TicketwerkRefused");
        let s = Marking::SeenOnly;
        assert_eq!(s.waiting(), "UNSEEN NOT DELETED");
        assert_eq!(s.done(), "\\Seen");
    }

    #[test]
    fn failed_polls_are_retried_ever_later_up_to_a_limit() {
        let minute = Duration::from_secs(60);
        let pauses: Vec<u64> = (1..=6).map(|n| retry_pause(n, minute).as_secs()).collect();
        assert_eq!(pauses, [60, 120, 240, 480, 900, 900]);
        assert_eq!(retry_pause(u32::MAX, minute).as_secs(), 900);
        let hourly = Duration::from_secs(3600);
        assert_eq!(retry_pause(3, hourly), hourly);
    }
}
