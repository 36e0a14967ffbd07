//! Identity: sign-in through OpenID Connect providers and passkeys as a
//! second factor. The protocols are libraries (`openidconnect`,
//! `webauthn-rs`); the rules of who may sign in are the domain's
//! (`ticketwerk_domain::identity`), and storage keeps the state.

pub mod oidc;
pub mod passkeys;

pub use oidc::{OidcError, OidcProvider, ProviderConfig, Started};
pub use passkeys::{NewPasskey, PasskeyError, Passkeys};
