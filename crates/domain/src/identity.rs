//! Sign-in through an identity provider (OpenID Connect): which external
//! identity a verified ID token names, whether its issuer and tenant are
//! acceptable, and whether it proves a second factor.
//!
//! The OIDC library checks the signature, the audience, the expiry and
//! the nonce. What is ours is the policy an operator configures: which
//! tenants may sign in, which proof of a second factor counts, and the
//! rule that a person is found by the provider's stable subject, never by
//! an email address (which the provider may let a user change).

/// Microsoft's tenant of personal (consumer) accounts. Refused unless an
/// operator allows consumer accounts for a provider.
pub const CONSUMER_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// The placeholder Entra ID's multi-tenant endpoints write into their
/// issuer; each token's issuer has the token's own tenant in its place.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// How tokens of one provider are judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderPolicy {
    /// The issuer the provider's metadata names, perhaps with
    /// [`TENANT_PLACEHOLDER`].
    pub issuer: String,
    pub kind: ProviderKind,
    /// `acr` values that count as proof of a second factor, besides an
    /// `amr` claim that contains `mfa`.
    pub mfa_acr_values: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderKind {
    /// Any standard OpenID Connect provider: the identity is `sub`.
    Generic,
    /// Microsoft Entra ID: the identity is tenant id and object id, and
    /// only allowed tenants may sign in.
    Entra {
        allowed_tenants: Vec<String>,
        allow_consumer_accounts: bool,
    },
}

/// The claims of an ID token whose signature, audience, expiry and nonce
/// the OIDC library has verified.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifiedClaims {
    pub issuer: String,
    pub subject: String,
    /// Entra's tenant id (`tid`) and object id (`oid`).
    pub tenant: Option<String>,
    pub object_id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Authentication methods (`amr`), e.g. `pwd`, `mfa`.
    pub methods: Vec<String>,
    /// Authentication context class (`acr`).
    pub context_class: Option<String>,
}

/// The stable name of an external identity within one provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalSubject(String);

impl ExternalSubject {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A subject the desk types in: for Entra ID `tenant id/object id`,
    /// otherwise the provider's `sub`. Surrounding space is dropped and
    /// Entra's ids, which are GUIDs, compare in lower case.
    pub fn parse(kind: &ProviderKind, text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() || text.len() > 255 || text.chars().any(char::is_control) {
            return None;
        }
        match kind {
            ProviderKind::Generic => Some(Self(text.to_string())),
            ProviderKind::Entra { .. } => {
                let (tenant, object) = text.split_once('/')?;
                let (tenant, object) = (tenant.trim(), object.trim());
                if tenant.is_empty() || object.is_empty() || object.contains('/') {
                    return None;
                }
                Some(Self(entra_subject(tenant, object)))
            }
        }
    }
}

fn entra_subject(tenant: &str, object: &str) -> String {
    format!("{}/{}", tenant.to_lowercase(), object.to_lowercase())
}

/// Why a verified token still does not sign anyone in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityRefusal {
    /// The issuer is not the provider's (for Entra: not the issuer of
    /// the tenant the token names).
    WrongIssuer,
    /// An Entra token without `tid` or `oid`.
    MissingTenant,
    /// A tenant the operator did not allow.
    TenantNotAllowed,
    /// Microsoft's consumer accounts, which are not allowed.
    ConsumerAccount,
}

impl IdentityRefusal {
    /// A stable code for logs and the audit trail.
    pub fn code(self) -> &'static str {
        match self {
            IdentityRefusal::WrongIssuer => "wrong_issuer",
            IdentityRefusal::MissingTenant => "missing_tenant",
            IdentityRefusal::TenantNotAllowed => "tenant_not_allowed",
            IdentityRefusal::ConsumerAccount => "consumer_account",
        }
    }
}

/// What a token is worth once the policy accepts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    pub subject: ExternalSubject,
    /// The token proves a second factor; otherwise the portal asks for
    /// its own.
    pub second_factor: bool,
}

impl ProviderPolicy {
    /// Judges verified claims: the issuer and the tenant first, then the
    /// identity they name and whether a second factor is proven. Fails
    /// closed: anything missing counts against the token.
    pub fn assess(&self, claims: &VerifiedClaims) -> Result<Assessment, IdentityRefusal> {
        let subject = match &self.kind {
            ProviderKind::Generic => {
                if claims.issuer != self.issuer {
                    return Err(IdentityRefusal::WrongIssuer);
                }
                ExternalSubject(claims.subject.clone())
            }
            ProviderKind::Entra {
                allowed_tenants,
                allow_consumer_accounts,
            } => {
                let (Some(tenant), Some(object)) = (&claims.tenant, &claims.object_id) else {
                    return Err(IdentityRefusal::MissingTenant);
                };
                if tenant.is_empty() || object.is_empty() {
                    return Err(IdentityRefusal::MissingTenant);
                }
                // The issuer must be that of the token's own tenant, so a
                // token of one tenant cannot pass as another's.
                let expected = self.issuer.replace(TENANT_PLACEHOLDER, tenant);
                if claims.issuer != expected {
                    return Err(IdentityRefusal::WrongIssuer);
                }
                let tenant_lower = tenant.to_lowercase();
                if tenant_lower == CONSUMER_TENANT {
                    if !allow_consumer_accounts {
                        return Err(IdentityRefusal::ConsumerAccount);
                    }
                } else if !allowed_tenants
                    .iter()
                    .any(|t| t.trim().to_lowercase() == tenant_lower)
                {
                    return Err(IdentityRefusal::TenantNotAllowed);
                }
                ExternalSubject(entra_subject(tenant, object))
            }
        };
        if subject.0.is_empty() {
            return Err(IdentityRefusal::MissingTenant);
        }
        Ok(Assessment {
            subject,
            second_factor: self.proves_second_factor(claims),
        })
    }

    /// `amr` contains `mfa`, or `acr` is one the operator named.
    fn proves_second_factor(&self, claims: &VerifiedClaims) -> bool {
        claims.methods.iter().any(|m| m == "mfa")
            || claims
                .context_class
                .as_ref()
                .is_some_and(|acr| self.mfa_acr_values.iter().any(|v| v == acr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "0f1e2d3c-aaaa-bbbb-cccc-000000000001";

    fn generic() -> ProviderPolicy {
        ProviderPolicy {
            issuer: "https://id.example".into(),
            kind: ProviderKind::Generic,
            mfa_acr_values: vec!["urn:example:mfa".into()],
        }
    }

    fn entra() -> ProviderPolicy {
        ProviderPolicy {
            issuer: "https://login.microsoftonline.com/{tenantid}/v2.0".into(),
            kind: ProviderKind::Entra {
                allowed_tenants: vec![TENANT.to_uppercase()],
                allow_consumer_accounts: false,
            },
            mfa_acr_values: Vec::new(),
        }
    }

    fn entra_claims(tenant: &str) -> VerifiedClaims {
        VerifiedClaims {
            issuer: format!("https://login.microsoftonline.com/{tenant}/v2.0"),
            subject: "pairwise-sub".into(),
            tenant: Some(tenant.into()),
            object_id: Some("AAAA-OBJECT".into()),
            methods: vec!["pwd".into(), "mfa".into()],
            ..Default::default()
        }
    }

    #[test]
    fn a_generic_token_names_its_subject_and_proves_mfa_by_amr_or_acr() {
        let mut claims = VerifiedClaims {
            issuer: "https://id.example".into(),
            subject: "alice".into(),
            methods: vec!["pwd".into()],
            ..Default::default()
        };
        let a = generic().assess(&claims).unwrap();
        assert_eq!(a.subject.as_str(), "alice");
        assert!(!a.second_factor, "a password alone is one factor");
        claims.methods.push("mfa".into());
        assert!(generic().assess(&claims).unwrap().second_factor);
        claims.methods = vec![];
        claims.context_class = Some("urn:example:mfa".into());
        assert!(generic().assess(&claims).unwrap().second_factor);
        claims.context_class = Some("urn:example:weak".into());
        assert!(!generic().assess(&claims).unwrap().second_factor);
    }

    #[test]
    fn another_issuer_is_refused() {
        let claims = VerifiedClaims {
            issuer: "https://evil.example".into(),
            subject: "alice".into(),
            ..Default::default()
        };
        assert_eq!(generic().assess(&claims), Err(IdentityRefusal::WrongIssuer));
    }

    #[test]
    fn an_entra_identity_is_tenant_and_object_id_whatever_the_case() {
        let a = entra().assess(&entra_claims(TENANT)).unwrap();
        assert_eq!(a.subject.as_str(), format!("{TENANT}/aaaa-object"));
        assert!(a.second_factor);
        let typed = ExternalSubject::parse(
            &entra().kind,
            &format!(" {}/AAAA-object ", TENANT.to_uppercase()),
        );
        assert_eq!(typed, Some(a.subject));
    }

    #[test]
    fn entra_issuer_must_be_that_of_the_tokens_tenant() {
        let mut claims = entra_claims(TENANT);
        claims.issuer = "https://login.microsoftonline.com/other-tenant/v2.0".into();
        assert_eq!(entra().assess(&claims), Err(IdentityRefusal::WrongIssuer));
    }

    #[test]
    fn entra_tenants_not_allowed_and_consumer_accounts_are_refused() {
        assert_eq!(
            entra().assess(&entra_claims("11111111-2222-3333-4444-555555555555")),
            Err(IdentityRefusal::TenantNotAllowed)
        );
        assert_eq!(
            entra().assess(&entra_claims(CONSUMER_TENANT)),
            Err(IdentityRefusal::ConsumerAccount)
        );
        let mut open = entra();
        open.kind = ProviderKind::Entra {
            allowed_tenants: vec![],
            allow_consumer_accounts: true,
        };
        assert!(open.assess(&entra_claims(CONSUMER_TENANT)).is_ok());
    }

    #[test]
    fn entra_tokens_without_tenant_or_object_id_are_refused() {
        let mut claims = entra_claims(TENANT);
        claims.object_id = None;
        assert_eq!(entra().assess(&claims), Err(IdentityRefusal::MissingTenant));
        let mut claims = entra_claims(TENANT);
        claims.tenant = Some(String::new());
        assert_eq!(entra().assess(&claims), Err(IdentityRefusal::MissingTenant));
    }

    #[test]
    fn typed_subjects_are_checked() {
        assert!(ExternalSubject::parse(&entra().kind, "no-slash").is_none());
        assert!(ExternalSubject::parse(&entra().kind, "a/b/c").is_none());
        assert!(ExternalSubject::parse(&generic().kind, "  ").is_none());
        assert!(ExternalSubject::parse(&generic().kind, "a\u{0}b").is_none());
        assert_eq!(
            ExternalSubject::parse(&generic().kind, " Alice ")
                .unwrap()
                .as_str(),
            "Alice"
        );
    }
}
