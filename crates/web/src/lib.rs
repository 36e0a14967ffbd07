//! The web layer of Ticketwerk: the customer portal and the desk, served
//! as plain HTML forms that work without JavaScript. Handlers are thin:
//! extract, ask the domain (through `access`) and storage, render.

mod dates;
mod error;
mod i18n;
mod render;
mod routes;
mod security;
mod session;

use std::sync::Arc;

use ticketwerk_identity::{OidcProvider, Passkeys, ProviderConfig};
use ticketwerk_mailroom::ingest::{self, Ingest};
use ticketwerk_storage::{FileStore, Store};

pub use error::WebError;
pub use ticketwerk_identity::ProviderConfig as IdentityProvider;

/// A ticket status as a person reads it in `lang`, for mails.
pub fn status_label(
    status: ticketwerk_domain::TicketStatus,
    lang: ticketwerk_domain::masterdata::Language,
) -> String {
    let lang = match lang {
        ticketwerk_domain::masterdata::Language::En => i18n::Lang::En,
        ticketwerk_domain::masterdata::Language::De => i18n::Lang::De,
    };
    i18n::text(lang, &format!("status.{}", status.code()))
}
pub use routes::{ROUTES, router};

/// A message of the user interface in a language (`de` or `en`; German
/// when unknown), for the command line.
pub fn message(lang: &str, key: &str) -> String {
    i18n::text(i18n::Lang::parse(lang).unwrap_or_default(), key)
}

/// What an operator configures about the web side.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The provider's name, shown in the title and the authenticator app.
    pub provider_name: String,
    /// Where persons write to change data they may not change themselves.
    pub office_email: String,
    /// The provider's privacy policy.
    pub privacy_url: String,
    /// Cookies without `Secure`, for plain HTTP. Only honoured when the
    /// server listens on loopback.
    pub insecure_cookies: bool,
    /// The largest attachment accepted, in bytes.
    pub max_attachment_bytes: usize,
    /// A session ends after this many seconds without a request.
    pub session_idle_secs: i64,
    /// A session ends this many seconds after sign-in, used or not.
    pub session_max_secs: i64,
    /// The time zone times are shown in, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// How the desk's "retry" and "accept" read held mail: the same
    /// settings as the doors mail comes in by.
    pub mail: ingest::Settings,
    /// The portal as persons reach it: the base of the identity
    /// providers' callbacks and the relying party of passkeys.
    pub portal_url: String,
    /// The portal's own password form. Off when every person signs in
    /// through an identity provider.
    pub local_sign_in: bool,
    /// The OpenID Connect providers offered on the sign-in page.
    pub identity_providers: Vec<ProviderConfig>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            provider_name: "Ticketwerk".into(),
            office_email: "office@example.com".into(),
            privacy_url: "/privacy".into(),
            insecure_cookies: false,
            max_attachment_bytes: 20 * 1024 * 1024,
            session_idle_secs: 30 * 60,
            session_max_secs: 12 * 60 * 60,
            time_zone: "Europe/Berlin".into(),
            // A key of this process only: an installation passes its own,
            // which stays the same across restarts.
            mail: ingest::Settings::new(
                50 * 1024 * 1024,
                rand::random::<[u8; 32]>().to_vec(),
                Vec::new(),
            ),
            portal_url: "http://localhost:8080".into(),
            local_sign_in: true,
            identity_providers: Vec::new(),
        }
    }
}

/// The shared state of all requests.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    files: FileStore,
    ingest: Ingest,
    settings: Settings,
    templates: render::Templates,
    providers: Vec<OidcProvider>,
    /// None when the portal is not at a domain name, where browsers
    /// refuse passkeys.
    passkeys: Option<Passkeys>,
}

impl App {
    pub fn new(store: Store, files: FileStore, settings: Settings) -> anyhow::Result<Self> {
        let templates = render::Templates::load(&settings)?;
        let portal = settings.portal_url.trim_end_matches('/');
        let providers = settings
            .identity_providers
            .iter()
            .map(|c| {
                let callback = format!("{portal}/login/oidc/{}/callback", c.name);
                OidcProvider::new(c.clone(), &callback)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let passkeys = match Passkeys::new(&settings.portal_url, &settings.provider_name) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(error = %e, "passkeys are not offered");
                None
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                ingest: Ingest::new(store.clone(), files.clone(), settings.mail.clone()),
                store,
                files,
                settings,
                templates,
                providers,
                passkeys,
            }),
        })
    }

    /// The identity provider of this name, if one is configured.
    pub(crate) fn provider(&self, name: &str) -> Option<&OidcProvider> {
        self.inner
            .providers
            .iter()
            .find(|p| p.config().name == name)
    }

    pub(crate) fn providers(&self) -> &[OidcProvider] {
        &self.inner.providers
    }

    pub(crate) fn passkeys(&self) -> Option<&Passkeys> {
        self.inner.passkeys.as_ref()
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn files(&self) -> &FileStore {
        &self.inner.files
    }

    pub fn ingest(&self) -> &Ingest {
        &self.inner.ingest
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    fn templates(&self) -> &render::Templates {
        &self.inner.templates
    }
}

/// Serves the portal on a bound listener until the process is stopped.
pub async fn serve(listener: tokio::net::TcpListener, app: App) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    let mut app = app;
    if app.settings().insecure_cookies && !local.ip().is_loopback() {
        tracing::warn!(target: "security", %local, "insecure cookies refused off loopback");
        let mut settings = app.settings().clone();
        settings.insecure_cookies = false;
        app = App::new(app.store().clone(), app.files().clone(), settings)?;
    }
    let sweeper = app.clone();
    tokio::spawn(async move { session::sweep_expired(sweeper).await });
    tracing::info!(%local, "listening");
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await?;
    Ok(())
}
