//! Sign-in through an OpenID Connect provider, against a real one on
//! loopback (`oidc-provider` of Node.js): the code flow with PKCE, state
//! and nonce; a token that proves a second factor and one that does not;
//! every way a token or a callback can be wrong; Entra ID's tenants; and
//! linking identities by the desk and by invitation.
#![allow(clippy::unwrap_used)]

mod common;

use common::oidc::{CLIENT_ID, CLIENT_SECRET, Provider, enabled};
use common::{Client, PASSWORD, TestApp, now, spawn_on};
use serde_json::json;
use ticketwerk_domain::Id;
use ticketwerk_domain::identity::{CONSUMER_TENANT, ProviderKind};
use ticketwerk_web::{IdentityProvider, Settings};

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const OTHER_TENANT: &str = "99999999-8888-7777-6666-555555555555";

struct World {
    app: TestApp,
    idp: Provider,
    anna: Id,
}

enum Kind {
    Generic,
    Entra,
}

async fn world_with(kind: Kind, local_sign_in: bool) -> World {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let callback = format!("{base}/login/oidc/idp/callback");
    let (idp, kind) = match kind {
        Kind::Generic => (Provider::start(&callback, None), ProviderKind::Generic),
        Kind::Entra => (
            Provider::start(&callback, Some(TENANT)),
            ProviderKind::Entra {
                allowed_tenants: vec![TENANT.to_string()],
                allow_consumer_accounts: false,
            },
        ),
    };
    let settings = Settings {
        portal_url: base,
        local_sign_in,
        identity_providers: vec![IdentityProvider {
            name: "idp".into(),
            label: "Test-IdP".into(),
            issuer: idp.issuer().to_string(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            kind,
            mfa_acr_values: vec!["urn:test:strong".into()],
            scopes: vec!["email".into(), "profile".into()],
        }],
        ..Settings::default()
    };
    let app = spawn_on(Some(listener), None, settings).await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    let anna = app.customer("anna@mueller.example", "Anna Berg", bp).await;
    World { app, idp, anna }
}

async fn world() -> World {
    world_with(Kind::Generic, true).await
}

impl World {
    async fn link(&self, person: Id, subject: &str) {
        self.app
            .store
            .link_identity(person, "idp", subject, "", None, now())
            .await
            .unwrap();
    }

    async fn events(&self, person: Option<Id>) -> Vec<String> {
        let log = self.app.store.audit_page(person, None, 100).await.unwrap();
        log.into_iter()
            .map(|e| format!("{} {}", e.event, e.detail))
            .collect()
    }
}

/// Signed in: the home page answers, not the sign-in.
async fn signed_in(client: &Client) -> bool {
    let home = client.get("/").await;
    !home.url.contains("/login") && home.contains("Anna Berg")
}

#[tokio::test]
async fn a_token_that_proves_mfa_signs_the_person_in() {
    if !enabled("a_token_that_proves_mfa_signs_the_person_in") {
        return;
    }
    let w = world().await;
    w.link(w.anna, "alice").await;
    let client = w.app.client();

    let login = client.get("/login").await;
    assert!(
        login.contains("Test-IdP"),
        "the sign-in page offers the provider"
    );
    let page = client.oidc_sign_in("idp", "alice", true).await;

    assert_eq!(page.status, 200);
    assert!(page.url.ends_with('/'), "landed at {}", page.url);
    assert!(signed_in(&client).await);
    let claims = w.idp.last_claims().await;
    assert_eq!(claims["amr"], json!(["pwd", "mfa"]));
    assert!(
        w.events(Some(w.anna))
            .await
            .contains(&"oidc_sign_in idp: mfa".to_string())
    );
}

#[tokio::test]
async fn without_mfa_the_portal_asks_its_own_second_factor() {
    if !enabled("without_mfa_the_portal_asks_its_own_second_factor") {
        return;
    }
    let w = world().await;
    w.link(w.anna, "alice").await;
    // Anna has an authenticator app from a password sign-in before.
    let mut local = w.app.client();
    local.enrol("anna@mueller.example").await;
    let secret = local.secret.clone().unwrap();

    let client = w.app.client();
    let page = client.oidc_sign_in("idp", "alice", false).await;
    assert!(
        page.url.ends_with("/login/second-factor"),
        "at {}",
        page.url
    );
    assert!(!signed_in(&client).await, "one factor is not enough");
    // Skipping the step leads back to it, not in.
    let skipped = client.get("/tickets/new").await;
    assert!(skipped.url.ends_with("/login"), "at {}", skipped.url);

    let page = client.oidc_sign_in("idp", "alice", false).await;
    let code = secret.code_at(now() + 30);
    let done = client
        .post(
            "/login/second-factor",
            &[("code", &code), ("csrf", &page.csrf())],
        )
        .await;
    assert!(done.url.ends_with('/'), "at {}", done.url);
    assert!(signed_in(&client).await);
    assert!(
        w.events(Some(w.anna))
            .await
            .contains(&"oidc_first_factor idp".to_string())
    );
}

#[tokio::test]
async fn an_acr_the_operator_named_counts_as_mfa() {
    if !enabled("an_acr_the_operator_named_counts_as_mfa") {
        return;
    }
    let w = world().await;
    w.link(w.anna, "alice").await;
    w.idp
        .tamper(json!({ "set": { "acr": "urn:test:strong", "amr": ["pwd"] } }))
        .await;
    let client = w.app.client();
    client.oidc_sign_in("idp", "alice", false).await;
    assert!(signed_in(&client).await);
}

/// The provider's password alone must not let anyone choose the second
/// factor: a person who has none yet is refused after a sign-in without
/// mfa, and gets in with one that proves it.
#[tokio::test]
async fn without_a_second_factor_yet_one_factor_cannot_set_one_up() {
    if !enabled("without_a_second_factor_yet_one_factor_cannot_set_one_up") {
        return;
    }
    let w = world().await;
    w.link(w.anna, "alice").await;
    let client = w.app.client();
    let page = client.oidc_sign_in("idp", "alice", false).await;
    assert_eq!(page.status, 403);
    assert!(
        page.contains("keinen zweiten Faktor bestätigt"),
        "{}",
        page.body
    );
    assert!(!page.url.contains("/login/enrol"));
    assert!(client.get("/login/enrol").await.url.ends_with("/login"));
    assert!(!signed_in(&client).await);
    assert!(
        w.events(Some(w.anna))
            .await
            .contains(&"enrolment_refused one factor".to_string())
    );

    client.oidc_sign_in("idp", "alice", true).await;
    assert!(
        signed_in(&client).await,
        "two factors at the provider sign in"
    );
}

/// A token that the provider signed but that is wrong in one way: the
/// sign-in page says so, no one is signed in, and the refusal is logged.
async fn refused(w: &World, change: serde_json::Value, code: &str) {
    w.link(w.anna, "alice").await;
    w.idp.tamper(change).await;
    let client = w.app.client();
    let page = client.oidc_sign_in("idp", "alice", true).await;
    assert_eq!(page.status, 401, "{code}: {}", page.body);
    assert!(
        page.contains("konnte nicht bestätigt werden"),
        "{code}: {}",
        page.body
    );
    assert!(!signed_in(&client).await, "{code}: signed in anyway");
    let events = w.events(None).await;
    assert!(
        events.contains(&format!("oidc_sign_in_refused idp: {code}")),
        "{code}: {events:?}"
    );
}

#[tokio::test]
async fn a_token_of_another_issuer_is_refused() {
    if enabled("a_token_of_another_issuer_is_refused") {
        let w = world().await;
        refused(
            &w,
            json!({ "set": { "iss": "http://evil.example" } }),
            "wrong_issuer",
        )
        .await;
    }
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    if enabled("a_token_for_another_audience_is_refused") {
        let w = world().await;
        refused(
            &w,
            json!({ "set": { "aud": "someone-else" } }),
            "wrong_audience",
        )
        .await;
    }
}

#[tokio::test]
async fn a_token_without_or_with_another_nonce_is_refused() {
    if !enabled("a_token_without_or_with_another_nonce_is_refused") {
        return;
    }
    let w = world().await;
    refused(&w, json!({ "remove": ["nonce"] }), "wrong_nonce").await;
    // The nonce of an earlier sign-in, replayed into a new token.
    w.idp.reset().await;
    let client = w.app.client();
    client.oidc_sign_in("idp", "alice", true).await;
    let old = w.idp.last_claims().await["nonce"].clone();
    refused(&w, json!({ "set": { "nonce": old } }), "wrong_nonce").await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    if enabled("an_expired_token_is_refused") {
        let w = world().await;
        let change = json!({ "set": {
            "exp": { "relative": -3600 },
            "iat": { "relative": -7200 },
        }});
        refused(&w, change, "expired").await;
        // Not expired, but issued two hours ago: kept somewhere, refused.
        w.idp.reset().await;
        let change = json!({ "set": {
            "exp": { "relative": 3600 },
            "iat": { "relative": -7200 },
        }});
        refused(&w, change, "expired").await;
    }
}

#[tokio::test]
async fn a_token_signed_by_an_unknown_key_is_refused() {
    if enabled("a_token_signed_by_an_unknown_key_is_refused") {
        let w = world().await;
        refused(&w, json!({ "key": "foreign" }), "bad_signature").await;
    }
}

#[tokio::test]
async fn rotated_signing_keys_are_fetched_once_when_they_appear() {
    if !enabled("rotated_signing_keys_are_fetched_once_when_they_appear") {
        return;
    }
    let w = world().await;
    w.link(w.anna, "alice").await;
    let first = w.app.client();
    first.oidc_sign_in("idp", "alice", true).await;
    assert!(signed_in(&first).await);
    // The provider now signs with a key the portal has not seen yet.
    w.idp.tamper(json!({ "key": "rotate" })).await;
    let second = w.app.client();
    second.oidc_sign_in("idp", "alice", true).await;
    assert!(signed_in(&second).await, "the new key was fetched");
}

#[tokio::test]
async fn a_callback_counts_once_and_only_in_the_browser_that_started_it() {
    if !enabled("a_callback_counts_once_and_only_in_the_browser_that_started_it") {
        return;
    }
    let w = world().await;
    w.link(w.anna, "alice").await;
    // A callback URL carried to another browser (a forced sign-in).
    let victim = w.app.client();
    let attacker = w.app.client();
    let start = attacker.oidc_start("idp").await.unwrap();
    let callback = attacker.at_provider(start, "alice", true).await;
    let page = victim.visit(&callback).await;
    assert_eq!(page.status, 400);
    assert!(page.contains("abgelaufen oder wurde in einem anderen Browser begonnen"));
    assert!(!signed_in(&victim).await);
    // The state was used up by that try: the attacker's own browser
    // cannot use it afterwards either.
    assert!(!signed_in(&attacker).await);
    assert_eq!(attacker.visit(&callback).await.status, 400);

    // A good callback, visited twice: the second visit is refused.
    let client = w.app.client();
    let start = client.oidc_start("idp").await.unwrap();
    let callback = client.at_provider(start, "alice", true).await;
    client.visit(&callback).await;
    assert!(signed_in(&client).await);
    let again = w.app.client();
    assert_eq!(again.visit(&callback).await.status, 400);
    // Without a state at all.
    let bare = format!("{}/login/oidc/idp/callback?code=x", w.app.base);
    assert_eq!(again.visit(&bare).await.status, 400);
    assert!(
        w.events(None)
            .await
            .iter()
            .any(|e| e == "oidc_state_refused idp")
    );
}

#[tokio::test]
async fn an_unknown_identity_gets_no_account_but_a_word_whom_to_ask() {
    if !enabled("an_unknown_identity_gets_no_account_but_a_word_whom_to_ask") {
        return;
    }
    let w = world().await;
    // Same email as Anna, but no link: email never decides.
    w.idp
        .account("mallory", json!({ "email": "anna@mueller.example" }))
        .await;
    let client = w.app.client();
    let page = client.oidc_sign_in("idp", "mallory", true).await;
    assert_eq!(page.status, 403);
    assert!(page.contains("Noch kein Zugang"), "{}", page.body);
    assert!(!signed_in(&client).await);
    assert!(
        w.events(None)
            .await
            .contains(&"oidc_unknown_identity idp: mallory anna@mueller.example".to_string())
    );
}

#[tokio::test]
async fn a_changed_email_at_the_provider_is_still_the_same_person() {
    if !enabled("a_changed_email_at_the_provider_is_still_the_same_person") {
        return;
    }
    let w = world().await;
    w.link(w.anna, "alice").await;
    w.idp
        .account(
            "alice",
            json!({ "email": "anna.neu@mueller.example", "name": "A. Neu" }),
        )
        .await;
    let client = w.app.client();
    client.oidc_sign_in("idp", "alice", true).await;
    assert!(signed_in(&client).await);
    let linked = w.app.store.identities_of(w.anna).await.unwrap();
    assert_eq!(linked[0].label, "anna.neu@mueller.example");
}

#[tokio::test]
async fn entra_tenants_the_operator_did_not_allow_are_refused() {
    if !enabled("entra_tenants_the_operator_did_not_allow_are_refused") {
        return;
    }
    let w = world_with(Kind::Entra, true).await;
    w.idp
        .account("alice", json!({ "tid": TENANT, "oid": "obj-anna" }))
        .await;
    w.link(w.anna, &format!("{TENANT}/obj-anna")).await;
    let client = w.app.client();
    client.oidc_sign_in("idp", "alice", true).await;
    assert!(signed_in(&client).await, "the allowed tenant signs in");
    let claims = w.idp.last_claims().await;
    assert_eq!(
        claims["iss"],
        json!(format!("{}/{TENANT}/v2.0", w.idp.issuer()))
    );

    // The same object id in a tenant that is not allowed.
    for (tenant, event) in [
        (OTHER_TENANT, "tenant_not_allowed"),
        (CONSUMER_TENANT, "consumer_account"),
    ] {
        w.idp
            .account("alice", json!({ "tid": tenant, "oid": "obj-anna" }))
            .await;
        let other = w.app.client();
        let page = other.oidc_sign_in("idp", "alice", true).await;
        assert_eq!(page.status, 401);
        assert!(page.contains("nicht freigeschaltet"), "{}", page.body);
        assert!(!signed_in(&other).await);
        assert!(
            w.events(None)
                .await
                .contains(&format!("oidc_sign_in_refused idp: {event}"))
        );
    }

    // A token of the allowed tenant whose issuer is another tenant's.
    w.idp
        .account("alice", json!({ "tid": TENANT, "oid": "obj-anna" }))
        .await;
    let forged_issuer = format!("{}/{OTHER_TENANT}/v2.0", w.idp.issuer());
    w.idp
        .tamper(json!({ "set": { "iss": forged_issuer } }))
        .await;
    let third = w.app.client();
    third.oidc_sign_in("idp", "alice", true).await;
    assert!(!signed_in(&third).await);
    assert!(
        w.events(None)
            .await
            .contains(&"oidc_sign_in_refused idp: wrong_issuer".to_string())
    );
}

#[tokio::test]
async fn with_the_password_form_off_only_the_provider_signs_in() {
    if !enabled("with_the_password_form_off_only_the_provider_signs_in") {
        return;
    }
    let w = world_with(Kind::Generic, false).await;
    let client = w.app.client();
    let login = client.get("/login").await;
    assert!(!login.contains("name=\"password\""), "no password form");
    assert!(login.contains("Test-IdP"));
    let csrf = common::field_value(&login.body, "csrf").unwrap();
    let refused = client
        .post(
            "/login",
            &[
                ("email", "anna@mueller.example"),
                ("password", PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(refused.status, 404);
    assert!(!signed_in(&client).await);
}

#[tokio::test]
async fn the_desk_links_an_identity_and_a_person_accepts_an_invitation() {
    if !enabled("the_desk_links_an_identity_and_a_person_accepts_an_invitation") {
        return;
    }
    let w = world().await;
    w.app.agent("desk@provider.example", "Dana Desk").await;
    let mut desk = w.app.client();
    desk.enrol("desk@provider.example").await;
    let person_page = format!("/desk/persons/{}", w.anna);
    let csrf = desk.csrf().await;

    // A typed identifier that is empty is refused at its field.
    let refused = desk
        .post(
            &format!("{person_page}/identities"),
            &[("csrf", &csrf), ("provider", "idp"), ("subject", " ")],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.contains("so ein, wie der Hinweis es zeigt"));
    let linked = desk
        .post(
            &format!("{person_page}/identities"),
            &[("csrf", &csrf), ("provider", "idp"), ("subject", "alice")],
        )
        .await;
    assert!(linked.contains("alice"), "{}", linked.body);
    let client = w.app.client();
    client.oidc_sign_in("idp", "alice", true).await;
    assert!(signed_in(&client).await);

    // Another person cannot get the same identity.
    let ben = w
        .app
        .person("ben@mueller.example", "Ben Kraus", false)
        .await;
    let taken = desk
        .post(
            &format!("/desk/persons/{ben}/identities"),
            &[("csrf", &csrf), ("provider", "idp"), ("subject", "alice")],
        )
        .await;
    assert_eq!(taken.status, 422);
    assert!(taken.contains("bereits einer anderen Person zugeordnet"));

    // An invitation: Ben signs in with his password and links "bob".
    desk.post(
        &format!("/desk/persons/{ben}/invitations"),
        &[("csrf", &csrf), ("provider", "idp")],
    )
    .await;
    let mut ben_client = w.app.client();
    ben_client.enrol("ben@mueller.example").await;
    let security = ben_client.get("/account/security").await;
    assert!(security.contains("lädt Sie ein"), "{}", security.body);
    let r = ben_client
        .raw
        .post(format!("{}/account/identities/link/idp", w.app.base))
        .form(&[("csrf", security.csrf().as_str())])
        .send()
        .await
        .unwrap();
    let start = r.headers()["location"].to_str().unwrap().to_string();
    let callback = ben_client.at_provider(start, "bob", true).await;
    let done = ben_client.visit(&callback).await;
    assert!(
        done.contains("jetzt mit dem Identitätsanbieter verknüpft"),
        "{}",
        done.body
    );
    let fresh = w.app.client();
    let landed = fresh.oidc_sign_in("idp", "bob", true).await;
    assert!(landed.contains("Ben Kraus"));
    // Without an invitation (it is used up) linking is not offered.
    let again = ben_client
        .post(
            "/account/identities/link/idp",
            &[("csrf", &ben_client.csrf().await)],
        )
        .await;
    assert_eq!(again.status, 404);

    let events = w.events(None).await;
    for event in [
        "identity_linked idp: by",
        "identity_invited idp: by",
        "identity_linked idp: self",
    ] {
        assert!(
            events.iter().any(|e| e.starts_with(event)),
            "{event}: {events:?}"
        );
    }
    // The desk reads them in the audit log.
    let audit = desk.get(&format!("/desk/audit?person={ben}")).await;
    assert!(audit.contains("Identität verknüpft"));
}
