//! Passkeys (WebAuthn) as a second factor, through `webauthn-rs`. Each
//! ceremony has two requests; its state is serialised between them so any
//! instance can finish what another began. Stored credentials and states
//! are JSON strings to storage; only this module knows their shape.

use sha2::{Digest, Sha256};
use ticketwerk_domain::Id;
use webauthn_rs::prelude::{
    CredentialID, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// WebAuthn needs the portal at a domain name (browsers refuse IP
    /// addresses as relying party ids).
    #[error("passkeys need the portal at a domain name, not {0}")]
    NoDomain(String),
    /// The browser's answer did not verify, or did not parse.
    #[error("the passkey was not accepted: {0}")]
    Refused(String),
    #[error("stored passkey data is unreadable: {0}")]
    Corrupt(String),
}

/// A new passkey, ready to store.
pub struct NewPasskey {
    pub credential_id: String,
    pub credential: String,
}

pub struct Passkeys {
    webauthn: Webauthn,
}

fn refused(e: impl std::fmt::Display) -> PasskeyError {
    PasskeyError::Refused(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> PasskeyError {
    PasskeyError::Corrupt(e.to_string())
}

/// A credential id as text (base64url, as the browser shows it).
fn id_text(id: &CredentialID) -> Result<String, PasskeyError> {
    use base64::Engine;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id))
}

/// The stored credentials that can be read. One that cannot (damaged
/// data) is left out and logged, so the others keep working.
fn readable(stored: &[String]) -> impl Iterator<Item = Passkey> + '_ {
    stored
        .iter()
        .filter_map(|c| match serde_json::from_str::<Passkey>(c) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::error!(error = %e, "a stored passkey is unreadable and left out");
                None
            }
        })
}

impl Passkeys {
    /// The relying party is the portal as persons reach it: its host is
    /// the RP id and its origin the only origin accepted.
    pub fn new(portal_url: &str, provider_name: &str) -> Result<Self, PasskeyError> {
        let origin =
            Url::parse(portal_url).map_err(|_| PasskeyError::NoDomain(portal_url.into()))?;
        let host = origin
            .domain()
            .ok_or_else(|| PasskeyError::NoDomain(portal_url.into()))?
            .to_string();
        let webauthn = WebauthnBuilder::new(&host, &origin)
            .map_err(|_| PasskeyError::NoDomain(portal_url.into()))?
            .rp_name(provider_name)
            .build()
            .map_err(|_| PasskeyError::NoDomain(portal_url.into()))?;
        Ok(Self { webauthn })
    }

    /// The WebAuthn user handle of a person: derived, so it is stable
    /// without being stored, and reveals no id.
    fn user_handle(person: Id) -> Uuid {
        let digest = Sha256::digest(format!("ticketwerk passkey user {person}"));
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Uuid::from_bytes(bytes)
    }

    /// Begins registering a passkey; the options for the browser and the
    /// state to keep. The person's existing passkeys are excluded, so one
    /// authenticator is not registered twice.
    pub fn start_registration(
        &self,
        person: Id,
        account: &str,
        display_name: &str,
        existing: &[String],
    ) -> Result<(serde_json::Value, String), PasskeyError> {
        let exclude = readable(existing).map(|p| p.cred_id().clone()).collect();
        let (options, state) = self
            .webauthn
            .start_passkey_registration(
                Self::user_handle(person),
                account,
                display_name,
                Some(exclude),
            )
            .map_err(refused)?;
        Ok((
            serde_json::to_value(options).map_err(corrupt)?,
            serde_json::to_string(&state).map_err(corrupt)?,
        ))
    }

    pub fn finish_registration(
        &self,
        response: &str,
        state: &str,
    ) -> Result<NewPasskey, PasskeyError> {
        let response: RegisterPublicKeyCredential =
            serde_json::from_str(response).map_err(refused)?;
        let state: PasskeyRegistration = serde_json::from_str(state).map_err(corrupt)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&response, &state)
            .map_err(refused)?;
        Ok(NewPasskey {
            credential_id: id_text(passkey.cred_id())?,
            credential: serde_json::to_string(&passkey).map_err(corrupt)?,
        })
    }

    /// Begins a sign-in with any of a person's passkeys.
    pub fn start_authentication(
        &self,
        credentials: &[String],
    ) -> Result<(serde_json::Value, String), PasskeyError> {
        let passkeys: Vec<Passkey> = readable(credentials).collect();
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(refused)?;
        Ok((
            serde_json::to_value(options).map_err(corrupt)?,
            serde_json::to_string(&state).map_err(corrupt)?,
        ))
    }

    /// Verifies the browser's answer. Returns the credential id used and,
    /// when its counter or flags moved, its new state to store.
    pub fn finish_authentication(
        &self,
        response: &str,
        state: &str,
        credentials: &[String],
    ) -> Result<(String, Option<String>), PasskeyError> {
        let response: PublicKeyCredential = serde_json::from_str(response).map_err(refused)?;
        let state: PasskeyAuthentication = serde_json::from_str(state).map_err(corrupt)?;
        let result = self
            .webauthn
            .finish_passkey_authentication(&response, &state)
            .map_err(refused)?;
        let used = id_text(result.cred_id())?;
        for mut passkey in readable(credentials) {
            if let Some(changed) = passkey.update_credential(&result) {
                let updated = changed
                    .then(|| serde_json::to_string(&passkey))
                    .transpose()
                    .map_err(corrupt)?;
                return Ok((used, updated));
            }
        }
        Err(PasskeyError::Refused("not a passkey of this person".into()))
    }
}
