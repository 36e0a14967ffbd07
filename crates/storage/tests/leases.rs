//! What storage promises about leases: one holder at a time among all
//! instances on one database, renewal by the holder, takeover after expiry.
//! On SQLite always, and on PostgreSQL when a server is configured.
#![allow(clippy::unwrap_used)]

// Leases need no world of business partners and persons.
#[allow(dead_code)]
mod common;

use common::{T0, for_each_backend};

const TTL: i64 = 300;

#[tokio::test]
async fn a_free_lease_is_taken_and_others_wait_until_it_expires() {
    for_each_backend(|store| async move {
        assert!(store.try_lease("imap", "a", T0, TTL).await.unwrap());
        assert!(!store.try_lease("imap", "b", T0 + 1, TTL).await.unwrap());
        assert!(
            !store
                .try_lease("imap", "b", T0 + TTL - 1, TTL)
                .await
                .unwrap()
        );
        assert_eq!(
            store.lease_holder("imap").await.unwrap(),
            Some(("a".to_string(), T0 + TTL))
        );

        // The holder stopped renewing: at expiry another takes over, and
        // the former holder is now the one refused.
        assert!(store.try_lease("imap", "b", T0 + TTL, TTL).await.unwrap());
        assert!(
            !store
                .try_lease("imap", "a", T0 + TTL + 1, TTL)
                .await
                .unwrap()
        );
        assert_eq!(
            store.lease_holder("imap").await.unwrap(),
            Some(("b".to_string(), T0 + 2 * TTL))
        );
    })
    .await;
}

#[tokio::test]
async fn the_holder_renews_its_lease() {
    for_each_backend(|store| async move {
        assert!(store.try_lease("imap", "a", T0, TTL).await.unwrap());
        assert!(store.try_lease("imap", "a", T0 + 200, TTL).await.unwrap());
        // Renewed at T0 + 200, so still held after the first term ended.
        assert!(
            !store
                .try_lease("imap", "b", T0 + TTL + 1, TTL)
                .await
                .unwrap()
        );
        assert_eq!(
            store.lease_holder("imap").await.unwrap(),
            Some(("a".to_string(), T0 + 200 + TTL))
        );
    })
    .await;
}

#[tokio::test]
async fn only_the_holder_releases_a_lease() {
    for_each_backend(|store| async move {
        assert!(store.try_lease("imap", "a", T0, TTL).await.unwrap());
        store.release("imap", "b").await.unwrap();
        assert!(!store.try_lease("imap", "b", T0 + 1, TTL).await.unwrap());

        store.release("imap", "a").await.unwrap();
        assert_eq!(store.lease_holder("imap").await.unwrap(), None);
        assert!(store.try_lease("imap", "b", T0 + 2, TTL).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn leases_of_different_names_are_independent() {
    for_each_backend(|store| async move {
        assert!(store.try_lease("imap", "a", T0, TTL).await.unwrap());
        assert!(store.try_lease("other", "b", T0, TTL).await.unwrap());
        assert!(!store.try_lease("other", "a", T0, TTL).await.unwrap());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_holders_racing_for_a_free_lease_exactly_one_wins() {
    for_each_backend(|store| async move {
        for round in 0..20 {
            let name = format!("race-{round}");
            let tries = (0..8).map(|h| {
                let store = store.clone();
                let name = name.clone();
                tokio::spawn(async move {
                    store
                        .try_lease(&name, &format!("holder-{h}"), T0, TTL)
                        .await
                        .unwrap()
                })
            });
            let mut winners = 0;
            for t in tries.collect::<Vec<_>>() {
                winners += usize::from(t.await.unwrap());
            }
            assert_eq!(winners, 1, "round {round}");
        }

        // The same race over an expired lease.
        assert!(store.try_lease("expired", "old", T0, TTL).await.unwrap());
        let later = T0 + TTL + 10;
        let (x, y) = tokio::join!(
            store.try_lease("expired", "x", later, TTL),
            store.try_lease("expired", "y", later, TTL),
        );
        assert!(x.unwrap() ^ y.unwrap());
    })
    .await;
}
