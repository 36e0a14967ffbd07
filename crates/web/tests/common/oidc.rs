//! A real OpenID Connect provider for the tests: the `oidc-provider`
//! package of Node.js (`tests/oidc/provider.mjs`), started on a free
//! loopback port per test. Its `/test/` endpoints set account claims and
//! tamper with the ID tokens it issues (re-signed with its own key), so
//! each refusal is tested against a correctly signed token.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

pub const CLIENT_ID: &str = "ticketwerk-portal";
pub const CLIENT_SECRET: &str = "test-client-secret-0123456789";

/// The variable that turns the OIDC tests on.
pub const ENABLE_VAR: &str = "TICKETWERK_TEST_OIDC";

pub struct Provider {
    pub issuer: String,
    child: Child,
    http: reqwest::Client,
}

impl Drop for Provider {
    fn drop(&mut self) {
        // Closing its stdin ends it; killing makes sure.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the OIDC tests run; says so on stderr when they do not.
pub fn enabled(test: &str) -> bool {
    if std::env::var(ENABLE_VAR).is_ok_and(|v| v == "1") {
        return true;
    }
    eprintln!(
        "SKIPPED {test}: set {ENABLE_VAR}=1 after `npm ci --prefix crates/web/tests/oidc` \
         to run it against a real OpenID Connect provider"
    );
    false
}

impl Provider {
    /// Starts a provider whose one client calls back to `redirect_uri`;
    /// with `entra_tenant`, it imitates Entra ID's multi-tenant endpoint.
    pub fn start(redirect_uri: &str, entra_tenant: Option<&str>) -> Provider {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc");
        assert!(
            std::path::Path::new(dir).join("node_modules").is_dir(),
            "run `npm ci --prefix crates/web/tests/oidc` first"
        );
        let mut command = Command::new("node");
        command
            .arg(format!("{dir}/provider.mjs"))
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_REDIRECT_URIS", redirect_uri)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(tenant) = entra_tenant {
            command.env("OIDC_ENTRA_TENANT", tenant);
        }
        let mut child = command.spawn().expect("node runs the OIDC provider");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let started: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the OIDC provider said {line:?}: {e}"));
        Provider {
            issuer: started["issuer"].as_str().unwrap().to_string(),
            child,
            http: reqwest::Client::new(),
        }
    }

    /// The issuer the portal is configured with: for the Entra imitation
    /// the metadata names `{tenantid}`, read from the same place.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// Sets an account's claims (email, name, tid, oid …).
    pub async fn account(&self, sub: &str, claims: Value) {
        self.control("/test/account", json!({ "sub": sub, "claims": claims }))
            .await;
    }

    /// Every ID token from now on is changed so, and re-signed.
    pub async fn tamper(&self, change: Value) {
        self.control("/test/tamper", change).await;
    }

    pub async fn reset(&self) {
        self.control("/test/reset", json!({})).await;
    }

    /// The claims of the last ID token issued.
    pub async fn last_claims(&self) -> Value {
        let r: Value = self
            .http
            .get(format!("{}/test/last-id-token", self.issuer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = r["id_token"].as_str().unwrap();
        let payload = token.split('.').nth(1).unwrap();
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }
}
