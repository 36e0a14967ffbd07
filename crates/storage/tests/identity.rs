//! What storage promises about sign-in through providers and passkeys: an
//! identity belongs to one person, a started sign-in is taken once and only
//! by its browser, a ceremony's state once and only while fresh, and a
//! person's passkeys are theirs alone. On SQLite always, and on PostgreSQL
//! when a server is configured.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
mod common;

use common::{T0, World, for_each_backend};
use ticketwerk_domain::DomainError;
use ticketwerk_storage::{OidcFlow, StorageError};

#[tokio::test]
async fn an_identity_belongs_to_one_person_and_survives_a_changed_email() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let linked = store
            .link_identity(
                w.anna,
                "entra",
                "t1/o1",
                "anna@acme.example",
                Some(w.dora),
                T0,
            )
            .await
            .unwrap();
        assert_eq!(linked.person, w.anna);
        assert_eq!(linked.linked_by, Some(w.dora));
        // The same link again changes nothing; to another person it is refused.
        let again = store
            .link_identity(w.anna, "entra", "t1/o1", "", None, T0 + 1)
            .await
            .unwrap();
        assert_eq!(again.id, linked.id);
        let taken = store
            .link_identity(w.ben, "entra", "t1/o1", "", None, T0)
            .await;
        assert!(matches!(
            taken,
            Err(StorageError::Domain(DomainError::Invalid(ref f))) if f[0].field == "subject"
        ));
        // The same subject at another provider is another identity.
        store
            .link_identity(w.ben, "other", "t1/o1", "", None, T0)
            .await
            .unwrap();
        // Signing in finds the person by subject; the email is only shown.
        let found = store
            .use_identity("entra", "t1/o1", "anna.neu@acme.example", T0 + 5)
            .await
            .unwrap();
        assert_eq!(found, Some(w.anna));
        let shown = store.identities_of(w.anna).await.unwrap();
        assert_eq!(shown[0].label, "anna.neu@acme.example");
        assert_eq!(shown[0].last_used_at, Some(T0 + 5));
        assert_eq!(
            store.use_identity("entra", "t1/o2", "", T0).await.unwrap(),
            None
        );
        // Only the person's own link can be removed through them.
        assert!(
            store
                .unlink_identity(w.ben, linked.id)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .unlink_identity(w.anna, linked.id)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            store.use_identity("entra", "t1/o1", "", T0).await.unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn an_invitation_stands_until_it_expires_or_is_used() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        store
            .invite_identity(w.anna, "entra", w.dora, T0, T0 + 100)
            .await
            .unwrap();
        assert_eq!(
            store.invitations_of(w.anna, T0 + 10).await.unwrap(),
            vec![("entra".to_string(), T0 + 100)]
        );
        assert!(
            store
                .invitations_of(w.anna, T0 + 100)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(store.invitations_of(w.ben, T0).await.unwrap().is_empty());
        store
            .link_identity(w.anna, "entra", "t/o", "", None, T0 + 20)
            .await
            .unwrap();
        assert!(
            store
                .invitations_of(w.anna, T0 + 30)
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn a_started_sign_in_is_taken_once_by_its_own_browser_while_fresh() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let flow = OidcFlow {
            provider: "entra".into(),
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            link_person: Some(w.anna),
            created_at: T0,
        };
        store.create_oidc_flow("s1", "b1", &flow).await.unwrap();
        store.create_oidc_flow("s2", "b2", &flow).await.unwrap();
        store.create_oidc_flow("s3", "b3", &flow).await.unwrap();
        assert_eq!(
            store.take_oidc_flow("s1", "b1", T0 - 600).await.unwrap(),
            Some(flow.clone())
        );
        assert_eq!(
            store.take_oidc_flow("s1", "b1", T0 - 600).await.unwrap(),
            None
        );
        // Another browser's try uses the flow up: the real browser cannot
        // finish it afterwards either.
        assert_eq!(
            store.take_oidc_flow("s2", "bX", T0 - 600).await.unwrap(),
            None
        );
        assert_eq!(
            store.take_oidc_flow("s2", "b2", T0 - 600).await.unwrap(),
            None
        );
        // Too old.
        assert_eq!(
            store.take_oidc_flow("s3", "b3", T0 + 1).await.unwrap(),
            None
        );
        store.create_oidc_flow("s4", "b4", &flow).await.unwrap();
        assert_eq!(store.purge_oidc_flows(T0 + 1).await.unwrap(), 1);
    })
    .await;
}

#[tokio::test]
async fn passkeys_and_ceremonies_belong_to_their_person_and_session() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let key = store
            .add_passkey(w.anna, "Laptop", "cred-1", "{\"a\":1}", T0)
            .await
            .unwrap();
        let twice = store.add_passkey(w.ben, "Other", "cred-1", "{}", T0).await;
        assert!(matches!(
            twice,
            Err(StorageError::Domain(DomainError::Invalid(_)))
        ));
        assert!(!store.rename_passkey(w.ben, key, "Mine").await.unwrap());
        assert!(
            store
                .rename_passkey(w.anna, key, "Dienst-Laptop")
                .await
                .unwrap()
        );
        store
            .passkey_used(w.anna, "cred-1", "{\"a\":2}", T0 + 9)
            .await
            .unwrap();
        let mine = store.passkeys_of(w.anna).await.unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].name, "Dienst-Laptop");
        assert_eq!(mine[0].credential, "{\"a\":2}");
        assert_eq!(mine[0].last_used_at, Some(T0 + 9));
        assert!(store.passkeys_of(w.ben).await.unwrap().is_empty());
        assert_eq!(store.delete_passkey(w.ben, key).await.unwrap(), None);
        // Anna has no authenticator app: her only passkey stays.
        assert_eq!(store.delete_passkey(w.anna, key).await.unwrap(), None);
        let spare = store
            .add_passkey(w.anna, "Telefon", "cred-2", "{}", T0)
            .await
            .unwrap();
        assert_eq!(
            store.delete_passkey(w.anna, key).await.unwrap(),
            Some("Dienst-Laptop".to_string())
        );
        assert_eq!(store.delete_passkey(w.anna, spare).await.unwrap(), None);
        // Two removals at the same moment leave one passkey.
        let third = store
            .add_passkey(w.anna, "Schlüssel", "cred-3", "{}", T0)
            .await
            .unwrap();
        let (a, b) = tokio::join!(
            store.delete_passkey(w.anna, spare),
            store.delete_passkey(w.anna, third)
        );
        let removed = [a.unwrap(), b.unwrap()].iter().flatten().count();
        assert_eq!(removed, 1);
        assert_eq!(store.passkeys_of(w.anna).await.unwrap().len(), 1);

        store
            .put_ceremony("sess", "register", "one", T0)
            .await
            .unwrap();
        store
            .put_ceremony("sess", "register", "two", T0 + 1)
            .await
            .unwrap();
        assert_eq!(
            store.take_ceremony("sess", "sign_in", T0).await.unwrap(),
            None
        );
        assert_eq!(
            store.take_ceremony("sess", "register", T0).await.unwrap(),
            Some("two".to_string())
        );
        assert_eq!(
            store.take_ceremony("sess", "register", T0).await.unwrap(),
            None
        );
        store
            .put_ceremony("sess", "sign_in", "old", T0)
            .await
            .unwrap();
        assert_eq!(
            store
                .take_ceremony("sess", "sign_in", T0 + 1)
                .await
                .unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn the_audit_log_pages_newest_first_for_everyone_or_one_person() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        for i in 0..5 {
            store
                .audit(T0 + i, Some(w.anna), "sign_in", "")
                .await
                .unwrap();
            store
                .audit(T0 + i, Some(w.ben), "sign_in_failed", "")
                .await
                .unwrap();
        }
        store
            .audit(T0 + 9, None, "sign_in_throttled", "127.0.0.1")
            .await
            .unwrap();
        let first = store.audit_page(None, None, 4).await.unwrap();
        assert_eq!(first.len(), 4);
        assert_eq!(first[0].event, "sign_in_throttled");
        assert_eq!(first[0].person, None);
        assert!(first.windows(2).all(|p| p[0].id > p[1].id));
        let next = store
            .audit_page(None, Some(first[3].id), 100)
            .await
            .unwrap();
        assert_eq!(first.len() + next.len(), 11);
        let anna = store.audit_page(Some(w.anna), None, 100).await.unwrap();
        assert_eq!(anna.len(), 5);
        assert!(
            anna.iter()
                .all(|e| e.person == Some(w.anna) && e.event == "sign_in")
        );
        assert_eq!(anna[0].person_name.as_deref(), Some("Anna Berg"));
    })
    .await;
}
