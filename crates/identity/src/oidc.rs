//! The relying party of one OpenID Connect provider: discovery, the
//! authorization request (code flow with PKCE, state and nonce), the code
//! exchange and the verification of the ID token, all through the
//! `openidconnect` library. The policy (issuer per tenant, allowed
//! tenants, proof of a second factor) is the domain's.
//!
//! Metadata and signing keys are fetched on first use and cached; a token
//! signed with a key id the cache does not know makes it fetch the keys
//! once more, which is how providers rotate keys.

use std::sync::Arc;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, IdToken, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    SignatureVerificationError, TokenResponse,
};
use serde::{Deserialize, Serialize};
use ticketwerk_domain::identity::{
    ProviderKind, ProviderPolicy, TENANT_PLACEHOLDER, VerifiedClaims,
};
use tokio::sync::RwLock;
use url::Url;

/// What an operator configures for one provider.
#[derive(Clone)]
pub struct ProviderConfig {
    /// A short name, used in URLs and stored with each linked identity.
    pub name: String,
    /// What the sign-in button says.
    pub label: String,
    /// The issuer whose `/.well-known/openid-configuration` is read; for
    /// Entra ID e.g. `https://login.microsoftonline.com/organizations/v2.0`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub kind: ProviderKind,
    /// `acr` values that prove a second factor, besides `amr` = `mfa`.
    pub mfa_acr_values: Vec<String>,
    /// Scopes besides `openid`.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for ProviderConfig {
    /// Without the client secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("kind", &self.kind)
            .field("mfa_acr_values", &self.mfa_acr_values)
            .finish_non_exhaustive()
    }
}

/// Why a sign-in through a provider failed. `code()` is stable, for the
/// audit log; nothing here carries a token or a secret.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the identity provider's metadata is not usable: {0}")]
    Metadata(String),
    #[error("the identity provider refused the code: {0}")]
    CodeRefused(String),
    #[error("the ID token was refused: {code}: {detail}")]
    Token { code: &'static str, detail: String },
}

impl OidcError {
    pub fn code(&self) -> &'static str {
        match self {
            OidcError::Unreachable(_) => "provider_unreachable",
            OidcError::Metadata(_) => "provider_metadata",
            OidcError::CodeRefused(_) => "code_refused",
            OidcError::Token { code, .. } => code,
        }
    }
}

/// Entra ID's tenant and object id, beside the standard claims.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct TenantClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    oid: Option<String>,
}

impl AdditionalClaims for TenantClaims {}

type TenantIdToken = IdToken<
    TenantClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// Metadata and keys as last fetched.
struct Discovered {
    metadata: CoreProviderMetadata,
    keys: CoreJsonWebKeySet,
}

/// A started sign-in: where to send the browser, and what to keep until
/// the callback.
pub struct Started {
    pub url: Url,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

pub struct OidcProvider {
    config: ProviderConfig,
    redirect: RedirectUrl,
    http: reqwest::Client,
    cache: RwLock<Option<Arc<Discovered>>>,
}

/// Seconds a token may claim to be issued in the future (clock skew).
const ISSUED_AT_LEEWAY: i64 = 300;
/// Seconds since its issue after which a token is refused, whatever its
/// expiry says.
const MAX_TOKEN_AGE: i64 = 3600;

impl OidcProvider {
    /// A provider whose callback is `redirect_url`.
    pub fn new(config: ProviderConfig, redirect_url: &str) -> Result<Self, OidcError> {
        let redirect = RedirectUrl::new(redirect_url.to_string())
            .map_err(|e| OidcError::Metadata(format!("redirect URL {redirect_url}: {e}")))?;
        // No redirects: a provider's endpoints answer directly, and
        // following one could lead a request anywhere.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|e| OidcError::Metadata(format!("HTTP client: {e}")))?;
        Ok(Self {
            config,
            redirect,
            http,
            cache: RwLock::new(None),
        })
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The policy of this provider, with the issuer its metadata names.
    fn policy(&self, discovered: &Discovered) -> ProviderPolicy {
        ProviderPolicy {
            issuer: discovered.metadata.issuer().as_str().to_string(),
            kind: self.config.kind.clone(),
            mfa_acr_values: self.config.mfa_acr_values.clone(),
        }
    }

    /// The cached metadata and keys, fetched on first use.
    async fn discovered(&self) -> Result<Arc<Discovered>, OidcError> {
        if let Some(d) = self.cache.read().await.as_ref() {
            return Ok(d.clone());
        }
        self.refresh(None).await
    }

    /// Fetches metadata (unless `keep` holds it) and keys anew.
    async fn refresh(&self, keep: Option<&Discovered>) -> Result<Arc<Discovered>, OidcError> {
        let metadata = match keep {
            Some(d) => d.metadata.clone(),
            None => self.fetch_metadata().await?,
        };
        let keys = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| OidcError::Unreachable(format!("signing keys: {e}")))?;
        let fresh = Arc::new(Discovered { metadata, keys });
        *self.cache.write().await = Some(fresh.clone());
        Ok(fresh)
    }

    /// Reads the discovery document. The library's own discovery insists
    /// that the metadata names exactly the configured issuer, which Entra
    /// ID's multi-tenant endpoints do not (they name `{tenantid}`); so the
    /// document is read here and the issuer checked by kind.
    async fn fetch_metadata(&self) -> Result<CoreProviderMetadata, OidcError> {
        let issuer = self.config.issuer.trim_end_matches('/');
        let url = format!("{issuer}/.well-known/openid-configuration");
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| OidcError::Unreachable(format!("{url}: {e}")))?;
        if !response.status().is_success() {
            return Err(OidcError::Unreachable(format!(
                "{url}: HTTP {}",
                response.status()
            )));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| OidcError::Unreachable(format!("{url}: {e}")))?;
        let metadata: CoreProviderMetadata = serde_json::from_slice(&body)
            .map_err(|e| OidcError::Metadata(format!("{url}: {e}")))?;
        let named = metadata.issuer().as_str().trim_end_matches('/');
        // Entra ID's multi-tenant endpoints (`organizations`, `common`)
        // name `{tenantid}` on the same host instead of themselves.
        let same_origin = |a: &str, b: &str| {
            let origin = |u: &str| Url::parse(u).ok().map(|u| u.origin());
            origin(a).is_some() && origin(a) == origin(b)
        };
        let fits = match self.config.kind {
            ProviderKind::Generic => named == issuer,
            ProviderKind::Entra { .. } => {
                named == issuer
                    || (named.contains(TENANT_PLACEHOLDER) && same_origin(named, issuer))
            }
        };
        if !fits {
            return Err(OidcError::Metadata(format!(
                "{url} names the issuer {named}, not {issuer}"
            )));
        }
        Ok(metadata)
    }

    /// Starts a sign-in: fresh state, nonce and PKCE verifier, and the
    /// provider's authorization URL carrying them.
    pub async fn start(&self, login_hint: Option<&str>) -> Result<Started, OidcError> {
        let discovered = self.discovered().await?;
        let client = self.client(&discovered);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = CsrfToken::new_random();
        let nonce = Nonce::new_random();
        let (state_out, nonce_out) = (state.clone(), nonce.clone());
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || state_out,
                move || nonce_out,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if let Some(hint) = login_hint {
            request = request.set_login_hint(openidconnect::LoginHint::new(hint.to_string()));
        }
        let (url, _, _) = request.url();
        Ok(Started {
            url,
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    fn client(
        &self,
        discovered: &Discovered,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            discovered.metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// Exchanges the code (with the PKCE verifier) and verifies the ID
    /// token: signature, audience, expiry, issue time and nonce by the
    /// library, issuer and tenant by the domain's policy afterwards.
    pub async fn finish(
        &self,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
        now: i64,
    ) -> Result<(VerifiedClaims, ProviderPolicy), OidcError> {
        let discovered = self.discovered().await?;
        let client = self.client(&discovered);
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::Metadata(format!("token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => {
                    OidcError::CodeRefused(r.error().to_string())
                }
                openidconnect::RequestTokenError::Request(e) => {
                    OidcError::Unreachable(format!("token endpoint: {e}"))
                }
                // An answer that does not read as a token response (an ID
                // token without `exp`, say) is a broken token, not a
                // refused code.
                openidconnect::RequestTokenError::Parse(e, _) => OidcError::Token {
                    code: "malformed_token",
                    detail: e.to_string(),
                },
                other => OidcError::CodeRefused(other.to_string()),
            })?;
        let token = response.id_token().ok_or(OidcError::Token {
            code: "no_id_token",
            detail: "the token response has no ID token".into(),
        })?;
        // Read again with Entra's tenant claims, which the core type drops.
        let token: TenantIdToken = serde_json::to_value(token)
            .and_then(serde_json::from_value)
            .map_err(|e| OidcError::Token {
                code: "malformed_token",
                detail: e.to_string(),
            })?;
        let nonce = Nonce::new(nonce.to_string());
        let claims = match self.verify(&discovered, &token, &nonce, now) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                tracing::info!(provider = %self.config.name, "unknown signing key: fetching the keys again");
                let fresh = self.refresh(Some(&discovered)).await?;
                self.verify(&fresh, &token, &nonce, now)
            }
            other => other,
        }
        .map_err(token_refusal)?;
        let policy = self.policy(&discovered);
        Ok((claims, policy))
    }

    fn verify(
        &self,
        discovered: &Discovered,
        token: &TenantIdToken,
        nonce: &Nonce,
        now: i64,
    ) -> Result<VerifiedClaims, ClaimsVerificationError> {
        let algs: Vec<CoreJwsSigningAlgorithm> = discovered
            .metadata
            .id_token_signing_alg_values_supported()
            .iter()
            .filter(|a| !symmetric_or_none(a))
            .cloned()
            .collect();
        let verifier = CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(self.config.client_id.clone()),
            ClientSecret::new(self.config.client_secret.clone()),
            discovered.metadata.issuer().clone(),
            discovered.keys.clone(),
        )
        // The issuer is checked by the domain's policy: for Entra ID it is
        // the issuer of the token's own tenant.
        .require_issuer_match(false)
        .set_allowed_algs(algs)
        .set_issue_time_verifier_fn(move |iat| {
            let iat = iat.timestamp();
            if iat > now + ISSUED_AT_LEEWAY {
                Err("issued in the future".to_string())
            } else if iat < now - MAX_TOKEN_AGE {
                // A token comes straight from the token endpoint; an old
                // one was kept somewhere.
                Err("issued too long ago".to_string())
            } else {
                Ok(())
            }
        });
        let claims = token.claims(&verifier, nonce)?;
        let extra = claims.additional_claims();
        Ok(VerifiedClaims {
            issuer: claims.issuer().as_str().to_string(),
            subject: claims.subject().as_str().to_string(),
            tenant: extra.tid.clone(),
            object_id: extra.oid.clone(),
            email: claims.email().map(|e| e.as_str().to_string()),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_string()),
            methods: claims
                .auth_method_refs()
                .map(|m| m.iter().map(|r| r.as_str().to_string()).collect())
                .unwrap_or_default(),
            context_class: claims.auth_context_ref().map(|a| a.as_str().to_string()),
        })
    }
}

fn symmetric_or_none(alg: &CoreJwsSigningAlgorithm) -> bool {
    matches!(
        alg,
        CoreJwsSigningAlgorithm::HmacSha256
            | CoreJwsSigningAlgorithm::HmacSha384
            | CoreJwsSigningAlgorithm::HmacSha512
            | CoreJwsSigningAlgorithm::None
    )
}

/// The stable code of a refused token.
fn token_refusal(e: ClaimsVerificationError) -> OidcError {
    let code = match &e {
        ClaimsVerificationError::InvalidAudience(_) => "wrong_audience",
        ClaimsVerificationError::InvalidIssuer(_) => "wrong_issuer",
        ClaimsVerificationError::Expired(_) => "expired",
        ClaimsVerificationError::InvalidNonce(_) => "wrong_nonce",
        ClaimsVerificationError::SignatureVerification(_) => "bad_signature",
        _ => "invalid_token",
    };
    OidcError::Token {
        code,
        detail: e.to_string(),
    }
}
