//! The authorisation matrix: every route of the router × every role ×
//! an object of the person's own business partner and one of another.
//! Each route has a decision below; a route without one fails the test,
//! and so does a route the router serves that is missing from `ROUTES`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{Client, TestApp, now, spawn, ticket_number};
use ticketwerk_domain::Id;
use ticketwerk_domain::masterdata::{
    ContractInput, Period, ServiceInput, SystemInput, SystemKind, UnitInput, UnitKind,
};
use ticketwerk_storage::Change;
use ticketwerk_web::ROUTES;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Anonymous,
    /// A person of K-1, not authorised: the ticket of "own" is theirs.
    EndUser,
    /// Authorised at K-1.
    Authorised,
    /// End user at K-1 and authorised at K-2.
    TwoPartners,
    /// Was authorised at K-1 until yesterday.
    Expired,
    Agent,
}

const ROLES: [Role; 6] = [
    Role::Anonymous,
    Role::EndUser,
    Role::Authorised,
    Role::TwoPartners,
    Role::Expired,
    Role::Agent,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// Objects of K-1, the business partner of every customer role.
    Own,
    /// Objects of K-3, which no customer role belongs to.
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Answered (a page, a refusal of the input, a redirect elsewhere):
    /// anything but 404 and the way to the sign-in.
    Open,
    /// 404, exactly like a thing that does not exist.
    Hidden,
    /// Sent to the sign-in page.
    SignIn,
}

use Expect::{Hidden, Open, SignIn};

/// The objects each scope stands for.
struct Objects {
    partner: Id,
    ticket: String,
    attachment: Id,
    service: Id,
    system: Id,
    person: Id,
    unit: Id,
    contract: Id,
    authorisation: Id,
    /// A mail held for the desk.
    mail: Id,
    /// The person's passkey, and two identities: one for the person's
    /// own security page, one for the desk's person page.
    passkey: Id,
    identity: Id,
    desk_identity: Id,
}

/// May this role see the ticket of this scope? The own ticket was
/// reported by the end user for himself.
fn sees_ticket(role: Role, scope: Scope) -> bool {
    match scope {
        Scope::Own => matches!(role, Role::EndUser | Role::Authorised | Role::Agent),
        Scope::Other => role == Role::Agent,
    }
}

fn customer(role: Role) -> bool {
    !matches!(role, Role::Anonymous | Role::Agent)
}

/// The decision for each route. Every route of `ROUTES` must be here.
fn expect(method: &str, path: &str, role: Role, scope: Scope) -> Expect {
    let signed_in = |e: Expect| if role == Role::Anonymous { SignIn } else { e };
    let when = |allowed: bool| signed_in(if allowed { Open } else { Hidden });
    match (method, path) {
        // Public: health, assets, the sign-in itself, language, privacy.
        ("GET", "/healthz" | "/readyz" | "/static/{file}" | "/login" | "/privacy")
        | ("GET", "/language/{lang}")
        | ("POST", "/login") => Open,
        // The later steps of signing in exist only during a sign-in, and
        // signing out ends at the sign-in page.
        ("GET" | "POST", "/login/second-factor" | "/login/enrol")
        | ("POST", "/login/passkey/start" | "/login/passkey/finish")
        | ("POST", "/logout") => SignIn,
        // Starting a sign-in at a provider carries the sign-in form's own
        // token (refused here); the callback of a provider that is not
        // configured does not exist.
        ("POST", "/login/oidc/{provider}") => Open,
        ("GET", "/login/oidc/{provider}/callback") => Hidden,
        // One's own security page: factors and links of oneself only.
        ("GET" | "POST", "/account/authenticator")
        | ("GET", "/account/security")
        | ("POST", "/account/recovery-codes")
        | ("POST", "/account/passkeys/start" | "/account/passkeys/finish") => signed_in(Open),
        // The own scope's passkey and identity are the end user's.
        (
            "POST",
            "/account/passkeys/{id}"
            | "/account/passkeys/{id}/delete"
            | "/account/identities/{id}/delete",
        ) => when(role == Role::EndUser && scope == Scope::Own),
        // Linking needs an invitation to a configured provider.
        ("POST", "/account/identities/link/{provider}") => when(false),
        ("GET", "/") => signed_in(Open),
        // Catalogs: "own" is K-1's business partner list, "other" K-3's.
        ("GET", "/catalog/{name}") => when(role == Role::Authorised && scope == Scope::Own),
        // Reporting: customers for themselves, the authorised for others.
        ("GET" | "POST", "/tickets/new") => when(customer(role)),
        ("GET" | "POST", "/tickets/new-for-someone") => {
            when(matches!(role, Role::Authorised | Role::TwoPartners))
        }
        // The persons of a business partner: those authorised for it.
        ("GET", "/pickers/{kind}") => when(role == Role::Authorised && scope == Scope::Own),
        ("GET", "/services") => when(customer(role)),
        ("GET", "/services/{id}") => when(customer(role) && scope == Scope::Own),
        // A ticket and everything under it: whoever may see the ticket.
        ("GET", "/tickets/{number}")
        | ("POST", "/tickets/{number}/entries")
        | ("GET" | "POST", "/tickets/{number}/edit")
        | ("POST", "/tickets/{number}/system")
        | ("GET", "/tickets/{number}/attachments/{id}") => when(sees_ticket(role, scope)),
        // The desk's own actions and pages.
        ("POST", "/tickets/{number}/classify" | "/tickets/{number}/status") => {
            when(role == Role::Agent)
        }
        // Master data and imports: the desk's alone, whichever business
        // partner the object belongs to.
        ("GET" | "POST", "/desk/import") | ("GET", "/desk/import/template/{file}") => {
            when(role == Role::Agent)
        }
        (
            "GET",
            "/desk/partners"
            | "/desk/partners/new"
            | "/desk/partners/{id}"
            | "/desk/persons"
            | "/desk/persons/new"
            | "/desk/persons/{id}"
            | "/desk/contracts/{id}"
            | "/desk/services/{id}"
            | "/desk/systems/{id}",
        )
        | (
            "POST",
            "/desk/partners/new"
            | "/desk/partners/{id}"
            | "/desk/partners/{id}/units"
            | "/desk/partners/{id}/units/{unit}/delete"
            | "/desk/partners/{id}/contracts"
            | "/desk/partners/{id}/services"
            | "/desk/partners/{id}/systems"
            | "/desk/persons/new"
            | "/desk/persons/{id}"
            | "/desk/persons/{id}/memberships"
            | "/desk/persons/{id}/memberships/{partner}/delete"
            | "/desk/persons/{id}/password"
            | "/desk/persons/{id}/identities"
            | "/desk/persons/{id}/identities/{identity}/delete"
            | "/desk/persons/{id}/invitations"
            | "/desk/contracts/{id}"
            | "/desk/contracts/{id}/authorisations"
            | "/desk/authorisations/{id}"
            | "/desk/authorisations/{id}/end"
            | "/desk/services/{id}"
            | "/desk/systems/{id}",
        ) => when(role == Role::Agent),
        // Incoming mail is the desk's alone, whoever sent it.
        ("GET", "/desk/mail" | "/desk/mail/{id}" | "/desk/mail/{id}/raw" | "/desk/audit")
        | (
            "POST",
            "/desk/mail/{id}/retry"
            | "/desk/mail/{id}/accept"
            | "/desk/mail/{id}/discard"
            | "/desk/mail/{id}/attach",
        ) => when(role == Role::Agent),
        _ => panic!("no decision for {method} {path}: add it to the matrix"),
    }
}

/// The concrete URL of a route for a scope.
fn url(path: &str, o: &Objects) -> String {
    let mut url = path
        .replace(
            "{file}",
            if path.starts_with("/desk/import") {
                "persons.csv"
            } else {
                "app.css"
            },
        )
        .replace("{lang}", "de")
        .replace("{name}", &format!("partner-open-{}", o.partner))
        .replace("{number}", &o.ticket)
        .replace("{kind}", "persons");
    let id = [
        ("/tickets/{number}/attachments/", o.attachment),
        ("/desk/partners/", o.partner),
        ("/desk/persons/", o.person),
        ("/desk/contracts/", o.contract),
        ("/desk/authorisations/", o.authorisation),
        ("/desk/systems/", o.system),
        ("/desk/mail/", o.mail),
        ("/account/passkeys/", o.passkey),
        ("/account/identities/", o.identity),
    ]
    .into_iter()
    .find(|(prefix, _)| path.starts_with(prefix))
    .map_or(o.service, |(_, id)| id);
    url = url
        .replace("{id}", &id.to_string())
        .replace("{unit}", &o.unit.to_string())
        .replace("{identity}", &o.desk_identity.to_string())
        .replace("{partner}", &o.partner.to_string());
    if path == "/pickers/{kind}" {
        url.push_str(&format!("?mode=someone&bp={}", o.partner));
    }
    url
}

/// Forms posted as multipart by the browser.
fn multipart(path: &str) -> bool {
    matches!(
        path,
        "/tickets/new" | "/tickets/new-for-someone" | "/tickets/{number}/entries" | "/desk/import"
    )
}

async fn outcome(
    client: &Client,
    role: Role,
    csrf: &str,
    (method, path): (&str, &str),
    url: &str,
) -> (u16, Expect) {
    let target = format!("{}{url}", client.base);
    let request = if method == "GET" {
        client.raw.get(&target)
    } else if multipart(path) {
        let form = reqwest::multipart::Form::new()
            .text("csrf", csrf.to_string())
            .text(
                "kind",
                if role == Role::Agent {
                    "internal_note"
                } else {
                    "customer_note"
                },
            )
            .text("body", "");
        client.raw.post(&target).multipart(form)
    } else {
        let form = [
            ("csrf", csrf),
            ("value", ""),
            ("short_text", ""),
            ("description", ""),
        ];
        client.raw.post(&target).form(&form)
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or("")
        .to_string();
    let seen = if status == 404 {
        Hidden
    } else if (300..400).contains(&status) && location.starts_with("/login") {
        SignIn
    } else {
        Open
    };
    assert!(status < 500, "{method} {url}: {status}");
    (status, seen)
}

/// The objects of both scopes, and the end user's signed-in client (he
/// reported the own ticket).
async fn setup(app: &TestApp) -> (Objects, Objects, Client) {
    let k1 = app.business_partner("K-1", "Müller GmbH").await;
    let k2 = app.business_partner("K-2", "Stadtwerke Lindenau").await;
    let k3 = app.business_partner("K-3", "Fremde AG").await;
    let thomas = app.customer("thomas@example.de", "Thomas Becker", k1).await;
    let sabine = app.customer("sabine@example.de", "Sabine Krause", k1).await;
    let markus = app
        .customer("markus@example.de", "Markus Hoffmann", k1)
        .await;
    app.store.add_membership(markus, k2, false).await.unwrap();
    let petra = app.customer("petra@example.de", "Petra Lang", k1).await;
    let frieda = app.customer("frieda@example.de", "Frieda Fremd", k3).await;
    app.agent("desk@example.com", "Dana Desk").await;
    let desk = Change {
        actor: None,
        at: now(),
    };
    let since = now() - 30 * 86_400;
    let contract = |name: &str| ContractInput {
        name: name.into(),
        period: Period::new(since, None).unwrap(),
    };
    let c1 = app
        .store
        .add_contract(k1, &contract("K-1"), desk)
        .await
        .unwrap();
    let c2 = app
        .store
        .add_contract(k2, &contract("K-2"), desk)
        .await
        .unwrap();
    let c3 = app
        .store
        .add_contract(k3, &contract("K-3"), desk)
        .await
        .unwrap();
    let open = Period::new(since, None).unwrap();
    let a1 = app.store.authorise(c1, sabine, open, desk).await.unwrap();
    let a3 = app.store.authorise(c3, frieda, open, desk).await.unwrap();
    app.store.authorise(c2, markus, open, desk).await.unwrap();
    let ended = Period::new(since, Some(now() - 86_400)).unwrap();
    app.store.authorise(c1, petra, ended, desk).await.unwrap();

    let mut objects = Vec::new();
    let mut clients = Vec::new();
    let scopes = [
        (k1, "thomas@example.de", thomas, c1, a1),
        (k3, "frieda@example.de", frieda, c3, a3),
    ];
    for (bp, email, person, contract, authorisation) in scopes {
        let mut client = app.client();
        client.enrol(email).await;
        let page = client
            .create_ticket("Drucker", &[("log.txt", b"Fehler 0x80")])
            .await;
        let ticket = ticket_number(&page);
        let attachment: Id = page
            .body
            .split(&format!("/tickets/{ticket}/attachments/"))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|id| id.parse().ok())
            .unwrap();
        let service = ServiceInput {
            name: "Managed Workplace".into(),
            description: String::new(),
            active: true,
        };
        let service = app.store.add_service(bp, &service, desk).await.unwrap();
        let system = SystemInput {
            kind: SystemKind::Laptop,
            name: "ThinkPad".into(),
            inventory_number: String::new(),
            user: None,
            active: true,
        };
        let system = app.store.add_system(bp, &system, desk).await.unwrap();
        let unit = UnitInput {
            kind: UnitKind::Location,
            name: "Werk Nord".into(),
        };
        let unit = app.store.add_unit(bp, &unit, desk).await.unwrap();
        let raw = format!(
            "From: stranger@example.org\r\nSubject: Hallo {bp}\r\n\
             Message-ID: <held-{bp}@example.org>\r\n\r\nText\r\n"
        );
        let mail = app.deliver_mail(&raw).await;
        let passkey = app
            .store
            .add_passkey(person, "Laptop", &format!("cred-{bp}"), "{}", now())
            .await
            .unwrap();
        let link = |subject: String| {
            let store = app.store.clone();
            async move {
                store
                    .link_identity(person, "idp", &subject, "", None, now())
                    .await
                    .unwrap()
                    .id
            }
        };
        let identity = link(format!("own-{bp}")).await;
        let desk_identity = link(format!("desk-{bp}")).await;
        objects.push(Objects {
            partner: bp,
            ticket,
            attachment,
            service,
            system,
            person,
            unit,
            contract,
            authorisation,
            mail,
            passkey,
            identity,
            desk_identity,
        });
        clients.push(client);
    }
    let other = objects.pop().unwrap();
    let own = objects.pop().unwrap();
    (own, other, clients.remove(0))
}

fn email(role: Role) -> Option<&'static str> {
    match role {
        Role::Anonymous => None,
        Role::EndUser => Some("thomas@example.de"),
        Role::Authorised => Some("sabine@example.de"),
        Role::TwoPartners => Some("markus@example.de"),
        Role::Expired => Some("petra@example.de"),
        Role::Agent => Some("desk@example.com"),
    }
}

#[tokio::test]
async fn every_route_answers_every_role_as_decided() {
    let app = spawn().await;
    let (own, other, thomas) = setup(&app).await;
    let mut thomas = Some(thomas);
    // Sign-out last: it ends the session the other requests use.
    let mut routes: Vec<(&str, &str)> = ROUTES.to_vec();
    routes.sort_by_key(|(method, path)| (*method, *path) == ("POST", "/logout"));
    let mut wrong = Vec::new();
    let mut checked = 0;
    for role in ROLES {
        let mut client = match role {
            Role::EndUser => thomas.take().unwrap(),
            _ => app.client(),
        };
        let csrf = match email(role) {
            Some(email) => {
                if role != Role::EndUser {
                    client.enrol(email).await;
                }
                client.csrf().await
            }
            None => String::new(),
        };
        for (method, path) in &routes {
            for (scope, objects) in [(Scope::Own, &own), (Scope::Other, &other)] {
                let decided = expect(method, path, role, scope);
                let url = url(path, objects);
                let (status, seen) = outcome(&client, role, &csrf, (method, path), &url).await;
                checked += 1;
                if seen != decided {
                    wrong.push(format!(
                        "{role:?} {scope:?} {method} {url}: expected {decided:?}, got {status}"
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {checked} cells wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(checked, ROUTES.len() * ROLES.len() * 2);
}

/// Every `.route("…")` of the router is in `ROUTES`, so none escapes the
/// matrix above; and `ROUTES` names no path the router does not serve.
#[test]
fn the_route_list_is_the_routers() {
    let source = include_str!("../src/routes/mod.rs");
    let router = &source[source.find("pub fn router").unwrap()..];
    let mut served = BTreeSet::new();
    for part in router.split(".route(").skip(1) {
        let path = part.split('"').nth(1).unwrap();
        served.insert(path);
    }
    let listed: BTreeSet<&str> = ROUTES.iter().map(|(_, p)| *p).collect();
    assert_eq!(served, listed);
}
