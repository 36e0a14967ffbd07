//! Reporting: the forms "Neues Ticket für mich" and "Neues Ticket für
//! jemanden" (manual 5.1, 5.2) and the pickers behind their fields. What a
//! person may pick is decided by `Viewer` alone; every id a form sends is
//! checked again against it and, when the ticket is written, by storage.
//!
//! A picker is a dialog with JavaScript (fed by `GET /pickers/{kind}`) and
//! a search inside the form without it: its button submits the form with
//! `picker=<field>`, and the page comes back with what was typed kept and
//! the matches to choose from.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use ticketwerk_domain::model::{NewTicket, PickItem};
use ticketwerk_domain::ticket::clean_text;
use ticketwerk_domain::{DomainError, Id, Impact, TicketType, Urgency};

use super::tickets::{
    MAX_REFERENCE, MAX_SHORT_TEXT, MAX_TEXT, Submitted, discard_files, options, parse_id,
    read_multipart, store_files, year_of,
};
use crate::i18n::text;
use crate::session::{Current, now};
use crate::{App, WebError};

/// At most this many matches are offered at once.
const PICK_LIMIT: i64 = 30;

/// Whom a form reports for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Myself,
    Someone,
}

impl Mode {
    fn path(self) -> &'static str {
        match self {
            Mode::Myself => "/tickets/new",
            Mode::Someone => "/tickets/new-for-someone",
        }
    }

    fn for_others(self) -> bool {
        self == Mode::Someone
    }
}

/// What a picker offers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Partners,
    Persons,
    Services,
    Systems,
}

impl Kind {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "partners" => Some(Kind::Partners),
            "persons" => Some(Kind::Persons),
            "services" => Some(Kind::Services),
            "systems" => Some(Kind::Systems),
            _ => None,
        }
    }

    /// The form field a picker of this kind fills.
    fn field(self) -> &'static str {
        match self {
            Kind::Partners => "business_partner",
            Kind::Persons => "reported_for",
            Kind::Services => "service",
            Kind::Systems => "system",
        }
    }

    fn of_field(field: &str) -> Option<Self> {
        [Kind::Partners, Kind::Persons, Kind::Services, Kind::Systems]
            .into_iter()
            .find(|k| k.field() == field)
    }
}

/// The choices of a picker for this viewer: `bp` is the business partner
/// chosen in the form (not needed for business partners themselves),
/// `first` the person reported for (their systems come first). Anything
/// out of the viewer's reach is `NotFound`, exactly like a missing thing.
async fn pick(
    app: &App,
    current: &Current,
    mode: Mode,
    kind: Kind,
    bp: Option<Id>,
    term: &str,
    first: Option<Id>,
) -> Result<Vec<PickItem>, WebError> {
    let term = clean_text(term, false);
    let term: String = term.chars().take(100).collect();
    let allowed = current.viewer.partners_to_report_in(mode.for_others());
    if kind == Kind::Partners {
        let lowered = term.to_lowercase();
        return Ok(current
            .partners
            .iter()
            .filter(|p| allowed.contains(&p.id))
            .filter(|p| {
                lowered.is_empty()
                    || p.name.to_lowercase().contains(&lowered)
                    || p.customer_number.to_lowercase().contains(&lowered)
            })
            .map(|p| PickItem {
                id: p.id,
                label: p.name.clone(),
                detail: p.customer_number.clone(),
            })
            .collect());
    }
    let bp = bp
        .filter(|bp| allowed.contains(bp))
        .ok_or(WebError::NotFound)?;
    match kind {
        Kind::Persons => {
            if mode != Mode::Someone || !current.viewer.may_list_persons_of(bp) {
                return Err(WebError::NotFound);
            }
            Ok(app.store().pick_persons(bp, &term, PICK_LIMIT).await?)
        }
        Kind::Services => Ok(app.store().pick_services(bp, &term, PICK_LIMIT).await?),
        Kind::Systems => {
            // Who uses which system is the persons' business: those who may
            // list the partner's persons see every user, anyone else only
            // themself.
            let colleagues = current.viewer.may_list_persons_of(bp);
            // The order tells whose systems come first, so a colleague's id
            // counts only for those who may see who uses what.
            let first = first.filter(|id| colleagues || *id == current.person.id);
            let systems = app
                .store()
                .pick_systems(bp, &term, first, colleagues, PICK_LIMIT)
                .await?;
            Ok(systems
                .into_iter()
                .map(|s| {
                    let mut detail = vec![text(
                        current.lang,
                        &format!("system_kind.{}", s.kind.code()),
                    )];
                    if !s.inventory_number.is_empty() {
                        detail.push(s.inventory_number);
                    }
                    let own = s.user_id == Some(current.person.id);
                    if let Some(user) = s.user_name.filter(|_| colleagues || own) {
                        detail.push(user);
                    }
                    PickItem {
                        id: s.id,
                        label: s.name,
                        detail: detail.join(" · "),
                    }
                })
                .collect())
        }
        Kind::Partners => Err(WebError::NotFound),
    }
}

#[derive(serde::Deserialize)]
pub struct PickParams {
    bp: Option<String>,
    q: Option<String>,
    mode: Option<String>,
    first: Option<String>,
}

/// `GET /pickers/{kind}`: the matches as JSON, for the picker dialog.
pub async fn pickers(
    State(app): State<App>,
    current: Current,
    Path(kind): Path<String>,
    Query(params): Query<PickParams>,
) -> Result<Response, WebError> {
    let kind = Kind::parse(&kind).ok_or(WebError::NotFound)?;
    let mode = match params.mode.as_deref() {
        Some("someone") => Mode::Someone,
        _ => Mode::Myself,
    };
    let id = |v: &Option<String>| v.as_deref().and_then(|v| v.trim().parse::<Id>().ok());
    let items = pick(
        &app,
        &current,
        mode,
        kind,
        id(&params.bp),
        params.q.as_deref().unwrap_or(""),
        id(&params.first),
    )
    .await?;
    Ok(Json(serde_json::json!({ "items": items })).into_response())
}

// ---- The form ---------------------------------------------------------------

/// One picker field of the form as shown: what is chosen and, when its
/// search is open (without JavaScript), the term and the matches.
#[derive(serde::Serialize, Default)]
struct PickerField {
    item: Option<PickItem>,
    open: bool,
    q: String,
    results: Vec<PickItem>,
}

fn id_of(values: &HashMap<String, String>, field: &str) -> Option<Id> {
    values
        .get(&format!("{field}_id"))
        .and_then(|v| v.trim().parse().ok())
}

/// The business partner of the form: the only one the person may report
/// in, or the one chosen among several.
fn chosen_partner(current: &Current, mode: Mode, values: &HashMap<String, String>) -> Option<Id> {
    let allowed = current.viewer.partners_to_report_in(mode.for_others());
    match allowed.as_slice() {
        [only] => Some(*only),
        _ => id_of(values, "business_partner").filter(|id| allowed.contains(id)),
    }
}

/// The label of a chosen id, if the viewer may pick it; else nothing.
async fn chosen_item(
    app: &App,
    current: &Current,
    mode: Mode,
    kind: Kind,
    bp: Option<Id>,
    id: Id,
    first: Option<Id>,
) -> Result<Option<PickItem>, WebError> {
    // Looked up through the same search the picker uses, so that what is
    // shown as chosen is exactly what could have been picked.
    let label = match kind {
        Kind::Partners => None,
        Kind::Persons => app.store().person(id).await?.map(|p| p.name),
        Kind::Services => app.store().service(id).await?.map(|s| s.name),
        Kind::Systems => app.store().system(id).await?.map(|s| s.name),
    };
    let found = match pick(
        app,
        current,
        mode,
        kind,
        bp,
        label.as_deref().unwrap_or(""),
        first,
    )
    .await
    {
        Ok(items) => items,
        Err(WebError::NotFound) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(found.into_iter().find(|i| i.id == id))
}

struct FormState<'a> {
    mode: Mode,
    values: &'a HashMap<String, String>,
    errors: HashMap<&'static str, &'static str>,
    file_problem: Option<String>,
    /// The picker whose search is open, without JavaScript.
    open: Option<Kind>,
}

async fn form_page(
    app: &App,
    current: &Current,
    state: FormState<'_>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let mode = state.mode;
    let values = state.values;
    let allowed = current.viewer.partners_to_report_in(mode.for_others());
    let bp = chosen_partner(current, mode, values);
    let reported_for = match mode {
        Mode::Myself => Some(current.person.id),
        Mode::Someone => id_of(values, "reported_for"),
    };
    let mut fields: HashMap<&'static str, PickerField> = HashMap::new();
    let mut kinds = vec![Kind::Services, Kind::Systems];
    if allowed.len() > 1 {
        kinds.push(Kind::Partners);
    }
    if mode == Mode::Someone {
        kinds.push(Kind::Persons);
    }
    for kind in kinds {
        let mut field = PickerField::default();
        if let Some(id) = id_of(values, kind.field()) {
            field.item = if kind == Kind::Partners {
                pick(app, current, mode, kind, None, "", None)
                    .await?
                    .into_iter()
                    .find(|i| i.id == id)
            } else {
                chosen_item(app, current, mode, kind, bp, id, reported_for).await?
            };
        }
        if state.open == Some(kind) {
            field.open = true;
            field.q = values
                .get(&format!("{}_q", kind.field()))
                .cloned()
                .unwrap_or_default();
            field.results = match pick(app, current, mode, kind, bp, &field.q, reported_for).await {
                Ok(items) => items,
                Err(WebError::NotFound) => Vec::new(),
                Err(e) => return Err(e),
            };
            if let Some(item) = &field.item
                && !field.results.iter().any(|r| r.id == item.id)
            {
                field.results.insert(0, item.clone());
            }
        }
        fields.insert(kind.field(), field);
    }
    let only_partner = match allowed.as_slice() {
        [only] => current.partners.iter().find(|p| p.id == *only).cloned(),
        _ => None,
    };
    let ctx = minijinja::context! { ..current.chrome(app), ..minijinja::context! {
        mode => if mode == Mode::Someone { "someone" } else { "myself" },
        action => mode.path(),
        only_partner => only_partner,
        partner_id => bp,
        pickers => fields,
        impacts => options(Impact::ALL, Impact::code),
        urgencies => options(Urgency::ALL, Urgency::code),
        types => options(TicketType::ALL, TicketType::code),
        values => values,
        errors => state.errors,
        file_problem => state.file_problem,
        person_name => current.person.name,
        max_size => app.settings().max_attachment_bytes as i64,
    }};
    let mut page = app.page("ticket_new.html", ctx);
    *page.status_mut() = status;
    Ok(page)
}

fn may_use(current: &Current, mode: Mode) -> Result<(), WebError> {
    if current
        .viewer
        .partners_to_report_in(mode.for_others())
        .is_empty()
    {
        Err(WebError::NotFound)
    } else {
        Ok(())
    }
}

async fn show(app: App, current: Current, mode: Mode) -> Result<Response, WebError> {
    may_use(&current, mode)?;
    let values = HashMap::new();
    let state = FormState {
        mode,
        values: &values,
        errors: HashMap::new(),
        file_problem: None,
        open: None,
    };
    form_page(&app, &current, state, StatusCode::OK).await
}

pub async fn new_page(State(app): State<App>, current: Current) -> Result<Response, WebError> {
    show(app, current, Mode::Myself).await
}

pub async fn new_for_someone_page(
    State(app): State<App>,
    current: Current,
) -> Result<Response, WebError> {
    show(app, current, Mode::Someone).await
}

/// Checks a submitted new ticket; every problem is named by its field.
/// What needs the database (is the person reported for a member, do the
/// service and system belong to the business partner) follows.
fn validate(
    current: &Current,
    mode: Mode,
    form: &Submitted,
) -> Result<NewTicket, HashMap<&'static str, &'static str>> {
    let mut errors = HashMap::new();
    let required = |name: &'static str, max: usize, errors: &mut HashMap<_, _>| {
        let v = clean_text(form.get(name), name == "description");
        if v.is_empty() {
            errors.insert(name, "form.required");
        } else if v.chars().count() > max {
            errors.insert(name, "form.too_long");
        }
        v
    };
    let short_text = required("short_text", MAX_SHORT_TEXT, &mut errors);
    let description = required("description", MAX_TEXT, &mut errors);
    let reference = clean_text(form.get("reference"), false);
    if reference.chars().count() > MAX_REFERENCE {
        errors.insert("reference", "form.too_long");
    }
    let mut choice = |name: &'static str| -> Option<&str> {
        let v = form.get(name);
        if v.is_empty() {
            errors.insert(name, "form.required");
            None
        } else {
            Some(v)
        }
    };
    let impact = choice("impact").map(|v| v.parse::<Impact>().ok());
    let urgency = choice("urgency").map(|v| v.parse::<Urgency>().ok());
    let ticket_type = choice("ticket_type").map(|v| v.parse::<TicketType>().ok());
    // The business partner comes from the person's own memberships (for
    // someone else: those they are authorised for), never from the form
    // alone: with one, it is that one whatever the form says; with
    // several, the chosen one must be among them.
    let partner = chosen_partner(current, mode, &form.fields);
    if partner.is_none() {
        let chosen = !form.get("business_partner_id").trim().is_empty();
        errors.insert(
            "business_partner",
            if chosen {
                "form.unknown_choice"
            } else {
                "form.required"
            },
        );
    }
    let reported_for = match mode {
        Mode::Myself => Some(current.person.id),
        Mode::Someone => match parse_id(form.get("reported_for_id")) {
            Ok(Some(id)) => Some(id),
            Ok(None) => {
                errors.insert("reported_for", "form.required");
                None
            }
            Err(()) => {
                errors.insert("reported_for", "form.unknown_choice");
                None
            }
        },
    };
    let service_id = parse_id(form.get("service_id")).unwrap_or_else(|_| {
        errors.insert("service", "form.unknown_choice");
        None
    });
    let system_id = parse_id(form.get("system_id")).unwrap_or_else(|_| {
        errors.insert("system", "form.unknown_choice");
        None
    });
    if let Some((key, _)) = &form.file_error {
        errors.insert("files", key);
    }
    for (name, value) in [
        ("impact", impact.map(|r| r.is_some())),
        ("urgency", urgency.map(|r| r.is_some())),
        ("ticket_type", ticket_type.map(|r| r.is_some())),
    ] {
        if value == Some(false) {
            errors.insert(name, "form.unknown_choice");
        }
    }
    match (partner, reported_for, impact, urgency, ticket_type) {
        (
            Some(bp),
            Some(reported_for),
            Some(Some(impact)),
            Some(Some(urgency)),
            Some(Some(ticket_type)),
        ) if errors.is_empty() => Ok(NewTicket {
            business_partner_id: bp,
            reported_by: current.person.id,
            reported_for,
            reference,
            short_text,
            description,
            impact,
            urgency,
            ticket_type,
            service_id,
            system_id,
        }),
        _ => Err(errors),
    }
}

async fn submit(
    app: App,
    current: Current,
    multipart: Multipart,
    mode: Mode,
) -> Result<Response, WebError> {
    let form = read_multipart(&app, multipart).await?;
    current.check_csrf(form.get("csrf"))?;
    may_use(&current, mode)?;
    let files_again = |errors: &mut HashMap<&'static str, &'static str>| {
        if !form.files.is_empty() && !errors.contains_key("files") {
            errors.insert("files", "form.files_again");
        }
    };
    // A picker's search or removal, without JavaScript: the same form
    // again, nothing written.
    let opened = Kind::of_field(form.get("picker"));
    let cleared = Kind::of_field(form.get("picker_clear"));
    let applied = Kind::of_field(form.get("picker_done"));
    if opened.is_some() || cleared.is_some() || applied.is_some() {
        let mut values = form.fields.clone();
        if let Some(kind) = cleared {
            values.remove(&format!("{}_id", kind.field()));
            if kind == Kind::Partners {
                for dependent in ["reported_for_id", "service_id", "system_id"] {
                    values.remove(dependent);
                }
            }
        }
        let mut errors = HashMap::new();
        files_again(&mut errors);
        let state = FormState {
            mode,
            values: &values,
            errors,
            file_problem: None,
            open: opened,
        };
        return form_page(&app, &current, state, StatusCode::OK).await;
    }
    let refused =
        |errors: HashMap<&'static str, &'static str>, file_problem: Option<String>| FormState {
            mode,
            values: &form.fields,
            errors,
            file_problem,
            open: None,
        };
    let new = match validate(&current, mode, &form) {
        Ok(new) => new,
        Err(mut errors) => {
            files_again(&mut errors);
            let problem = form.file_error.as_ref().map(|(_, name)| name.clone());
            return form_page(
                &app,
                &current,
                refused(errors, problem),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    // The person reported for must be an active member of that business
    // partner, as the picker offered; the rule of who may report for whom
    // is the viewer's.
    let member = new.reported_for == current.person.id
        || app
            .store()
            .is_active_member(new.reported_for, new.business_partner_id)
            .await?;
    if !member
        || !current
            .viewer
            .may_create_ticket(new.business_partner_id, new.reported_for, member)
    {
        let mut errors = HashMap::from([("reported_for", "form.unknown_choice")]);
        files_again(&mut errors);
        return form_page(
            &app,
            &current,
            refused(errors, None),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let stored = store_files(&app, &form.files).await?;
    let now = now();
    match app
        .store()
        .create_ticket(&new, &stored, year_of(now), now)
        .await
    {
        Ok((_, number)) => {
            tracing::info!(ticket = %number, for_someone = mode.for_others(), "ticket created");
            Ok(Redirect::to(&format!("/tickets/{number}?created=1")).into_response())
        }
        Err(e) => {
            discard_files(&app, &stored).await;
            match e {
                ticketwerk_storage::StorageError::Domain(DomainError::Invalid(fields)) => {
                    let mut errors: HashMap<&'static str, &'static str> = fields
                        .iter()
                        .map(|f| match f.field {
                            "service_id" => ("service", "form.not_of_partner"),
                            "system_id" => ("system", "form.not_of_partner"),
                            "reported_for" => ("reported_for", "form.unknown_choice"),
                            other => (other, "form.unknown_choice"),
                        })
                        .collect();
                    files_again(&mut errors);
                    form_page(
                        &app,
                        &current,
                        refused(errors, None),
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await
                }
                other => Err(other.into()),
            }
        }
    }
}

pub async fn create(
    State(app): State<App>,
    current: Current,
    multipart: Multipart,
) -> Result<Response, WebError> {
    submit(app, current, multipart, Mode::Myself).await
}

pub async fn create_for_someone(
    State(app): State<App>,
    current: Current,
    multipart: Multipart,
) -> Result<Response, WebError> {
    submit(app, current, multipart, Mode::Someone).await
}
