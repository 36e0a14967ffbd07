//! Home, catalogs, privacy, language and static files.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ticketwerk_domain::model::BusinessPartner;
use ticketwerk_domain::{Catalog, Id, TicketKind, TicketStatus};
use ticketwerk_storage::{ColumnFilter, SortKey, TicketQuery};

use crate::i18n::Lang;
use crate::render::{request_lang, same_origin_referer};
use crate::session::{self, Current, LANG_COOKIE};
use crate::{App, WebError};

/// Rows per catalog page.
const PAGE_SIZE: i64 = 25;

/// The catalogs by their URL names.
const CATALOGS: &[(&str, Catalog)] = &[
    ("my-open", Catalog::MyOpen),
    ("my-closed", Catalog::MyClosed),
    ("partner-open", Catalog::PartnerOpen),
    ("partner-closed", Catalog::PartnerClosed),
    ("desk-new", Catalog::DeskNewCalls),
    ("desk-open", Catalog::DeskOpen),
    ("desk-closed", Catalog::DeskClosed),
];

/// A catalog by its URL name: a name of `CATALOGS`, and for the business
/// partner catalogs optionally `-<id>` for one business partner.
fn parse_catalog(name: &str) -> Option<(Catalog, Option<Id>)> {
    if let Some((_, c)) = CATALOGS.iter().find(|(n, _)| *n == name) {
        return Some((*c, None));
    }
    let (base, id) = name.rsplit_once('-')?;
    let catalog = match base {
        "partner-open" => Catalog::PartnerOpen,
        "partner-closed" => Catalog::PartnerClosed,
        _ => return None,
    };
    let parsed: Id = id.parse().ok().filter(|n: &Id| n.to_string() == id)?;
    Some((catalog, Some(parsed)))
}

/// May this viewer open the catalog of this URL name?
fn may_open(current: &Current, name: &str) -> bool {
    parse_catalog(name).is_some_and(|(c, bp)| current.viewer.catalog(c, bp).is_some())
}

/// The tiles of the home page a person may use, in the manual's order:
/// key, target (a path, or a catalog name) and, for a business partner
/// catalog of one of several, that business partner's name.
fn tiles(current: &Current) -> Vec<(&'static str, String, Option<String>)> {
    let mut tiles = Vec::new();
    if !current.viewer.agent && !current.viewer.memberships.is_empty() {
        tiles.push(("tile.new_for_me", "/tickets/new".to_string(), None));
    }
    for (name, catalog) in CATALOGS {
        if current.viewer.catalog(*catalog, None).is_none() {
            continue;
        }
        let partner_catalog = matches!(catalog, Catalog::PartnerOpen | Catalog::PartnerClosed);
        let authorised: Vec<&BusinessPartner> = current
            .partners
            .iter()
            .filter(|bp| current.viewer.is_authorised_for(bp.id))
            .collect();
        if partner_catalog && authorised.len() > 1 {
            for bp in authorised {
                tiles.push((
                    tile_key(name),
                    format!("{name}-{}", bp.id),
                    Some(bp.name.clone()),
                ));
            }
        } else {
            tiles.push((tile_key(name), name.to_string(), None));
        }
        if *catalog == Catalog::MyClosed && current.viewer.may_report_for_others() {
            tiles.push((
                "tile.new_for_someone",
                "/tickets/new-for-someone".to_string(),
                None,
            ));
        }
    }
    if current.viewer.may_see_own_services() {
        tiles.push(("tile.my_services", "/services".to_string(), None));
    }
    tiles
}

fn tile_key(catalog: &str) -> &'static str {
    match catalog {
        "my-open" => "tile.my_open",
        "my-closed" => "tile.my_closed",
        "desk-new" => "tile.desk_new",
        "desk-open" => "tile.desk_open",
        "desk-closed" => "tile.desk_closed",
        c if c.starts_with("partner-open") => "tile.partner_open",
        _ => "tile.partner_closed",
    }
}

/// The name of the business partner a catalog is narrowed to, if any.
fn catalog_partner(current: &Current, name: &str) -> Option<String> {
    let (_, bp) = parse_catalog(name)?;
    let bp = bp?;
    current
        .partners
        .iter()
        .find(|p| p.id == bp)
        .map(|p| p.name.clone())
}

/// The tiles as links. In the workspace, a catalog tile opens its catalog
/// as one more tab beside those already open.
fn tile_values(current: &Current, tabs: &[&str]) -> Vec<minijinja::Value> {
    tiles(current)
        .into_iter()
        .map(|(key, target, partner)| {
            let href = if target.starts_with('/') {
                target.clone()
            } else {
                catalog_href(&target, &with_tab(tabs, &target))
            };
            minijinja::context! { key => key, href => href, name => target, partner => partner }
        })
        .collect()
}

/// At most this many catalogs are open side by side.
const MAX_TABS: usize = 7;

fn with_tab<'a>(tabs: &[&'a str], tab: &'a str) -> Vec<&'a str> {
    let mut out: Vec<&str> = tabs.iter().copied().filter(|t| *t != tab).collect();
    out.push(tab);
    let skip = out.len().saturating_sub(MAX_TABS);
    out.split_off(skip)
}

fn catalog_href(name: &str, tabs: &[&str]) -> String {
    format!("/catalog/{name}?tabs={}", tabs.join(","))
}

/// The catalogs open as tabs: those named in the request that this person
/// may open, in order, plus the current one.
fn open_tabs<'a>(current: &Current, requested: Option<&'a str>, name: &'a str) -> Vec<&'a str> {
    let mut tabs: Vec<&str> = Vec::new();
    for tab in requested.unwrap_or("").split(',') {
        if may_open(current, tab) && !tabs.contains(&tab) {
            tabs.push(tab);
        }
    }
    if !tabs.contains(&name) {
        tabs = with_tab(&tabs, name);
    }
    tabs
}

/// The tab bar: each tab opens its catalog, its X closes it (moving to
/// the last remaining tab, or home when none is left).
fn tab_values(current: &Current, tabs: &[&str], active: &str) -> Vec<minijinja::Value> {
    tabs.iter()
        .map(|tab| {
            let rest: Vec<&str> = tabs.iter().copied().filter(|t| t != tab).collect();
            let close_href = match (rest.last(), *tab == active) {
                (None, _) => "/".to_string(),
                (Some(last), true) => catalog_href(last, &rest),
                (Some(_), false) => catalog_href(active, &rest),
            };
            minijinja::context! {
                name => tab,
                key => tile_key(tab),
                partner => catalog_partner(current, tab),
                href => catalog_href(tab, tabs),
                close_href => close_href,
                active => *tab == active,
            }
        })
        .collect()
}

pub async fn home(State(app): State<App>, current: Current) -> Response {
    let ctx = minijinja::context! { ..current.chrome(&app), ..minijinja::context! {
        tiles => tile_values(&current, &[]),
    }};
    app.page("home.html", ctx)
}

#[derive(serde::Deserialize, Default)]
pub struct CatalogParams {
    sort: Option<String>,
    dir: Option<String>,
    q: Option<String>,
    after: Option<String>,
    tabs: Option<String>,
    /// Column search ("Spaltensuche").
    c_number: Option<String>,
    c_short_text: Option<String>,
    c_reference: Option<String>,
    c_reported_for: Option<String>,
    c_status: Option<String>,
    c_kind: Option<String>,
}

impl CatalogParams {
    /// The column search as asked; an unknown status or kind filters
    /// nothing rather than failing the page.
    fn column_filter(&self) -> ColumnFilter {
        let text = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        ColumnFilter {
            number: text(&self.c_number),
            short_text: text(&self.c_short_text),
            reference: text(&self.c_reference),
            reported_for: text(&self.c_reported_for),
            status: self.c_status.as_deref().and_then(|v| v.parse().ok()),
            kind: self.c_kind.as_deref().and_then(|v| v.parse().ok()),
        }
    }
}

/// What a list shows besides its sort and page, for the links that keep
/// it: open tabs, quick search, column search.
fn list_state(tabs: &[&str], q: &str, c: &ColumnFilter) -> BTreeMap<&'static str, String> {
    let mut state = BTreeMap::new();
    state.insert("tabs", tabs.join(","));
    let text = [
        ("q", Some(q)),
        ("c_number", c.number.as_deref()),
        ("c_short_text", c.short_text.as_deref()),
        ("c_reference", c.reference.as_deref()),
        ("c_reported_for", c.reported_for.as_deref()),
        ("c_status", c.status.map(|s| s.code())),
        ("c_kind", c.kind.map(|k| k.code())),
    ];
    for (key, value) in text {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            state.insert(key, v.to_string());
        }
    }
    state
}

pub async fn catalog(
    State(app): State<App>,
    current: Current,
    Path(name): Path<String>,
    Query(params): Query<CatalogParams>,
) -> Result<Response, WebError> {
    let (scope, status) = parse_catalog(&name)
        .and_then(|(c, bp)| current.viewer.catalog(c, bp))
        .ok_or(WebError::NotFound)?;
    let sort = params
        .sort
        .as_deref()
        .and_then(SortKey::parse)
        .unwrap_or(SortKey::Updated);
    let descending = params.dir.as_deref() != Some("asc");
    // Spaces as typed are not meant literally: "a  b" searches "a b".
    let search = params
        .q
        .as_deref()
        .map(|q| q.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|q| !q.is_empty());
    let column_filter = params.column_filter();
    let query = TicketQuery {
        columns: column_filter.clone(),
        scope,
        status,
        sort,
        descending,
        search: search.clone(),
        after: params.after.clone(),
        limit: PAGE_SIZE,
    };
    let page = app.store().list_tickets(&query).await?;
    let columns: Vec<minijinja::Value> = SortKey::ALL
        .iter()
        .map(|k| minijinja::context! { key => k.code(), active => *k == sort })
        .collect();
    let tabs = open_tabs(&current, params.tabs.as_deref(), &name);
    let q = search.clone().unwrap_or_default();
    let state = list_state(&tabs, &q, &column_filter);
    let ctx = minijinja::context! { ..current.chrome(&app), ..minijinja::context! {
        state => state,
        filter => minijinja::context! {
            number => column_filter.number,
            short_text => column_filter.short_text,
            reference => column_filter.reference,
            reported_for => column_filter.reported_for,
            status => column_filter.status,
            kind => column_filter.kind,
            active => !column_filter.is_empty(),
        },
        statuses => TicketStatus::ALL.iter().map(|s| s.code()).collect::<Vec<_>>(),
        kinds => TicketKind::ALL.iter().map(|k| k.code()).collect::<Vec<_>>(),
        tiles => tile_values(&current, &tabs),
        tabs => tab_values(&current, &tabs, &name),
        title_partner => catalog_partner(&current, &name),
        tabs_param => tabs.join(","),
        catalog => name,
        title_key => tile_key(&name),
        tickets => page.items,
        next => page.next,
        first_page => params.after.is_some(),
        sort => sort.code(),
        dir => if descending { "desc" } else { "asc" },
        q => search.unwrap_or_default(),
        columns => columns,
        show_partner => current.viewer.agent || current.viewer.memberships.len() > 1,
    }};
    Ok(app.page("catalog.html", ctx))
}

pub async fn privacy(
    State(app): State<App>,
    current: Option<Current>,
    headers: HeaderMap,
) -> Response {
    let ctx = match &current {
        Some(c) => c.chrome(&app),
        None => app.chrome(request_lang(&headers)),
    };
    app.page("privacy.html", ctx)
}

#[derive(serde::Deserialize)]
pub struct Back {
    back: Option<String>,
}

/// Chooses the language of the pages. Only a cookie is set, so this is
/// safe as a plain link; the return address must be a local path.
pub async fn language(
    State(app): State<App>,
    Path(lang): Path<String>,
    Query(q): Query<Back>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let lang = Lang::parse(&lang).ok_or(WebError::NotFound)?;
    // Back to the page the link was on: the `back` parameter, else the
    // path of a same-origin Referer; never another site.
    let back = q
        .back
        .filter(|b| crate::render::is_local_path(b))
        .or_else(|| same_origin_referer(&headers))
        .unwrap_or_else(|| "/".to_string());
    let mut response = Redirect::to(&back).into_response();
    let year = 365 * 24 * 3600;
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(&app, LANG_COOKIE, lang.code(), Some(year)),
    );
    Ok(response)
}

/// Vendored front-end files, compiled in.
pub async fn static_file(Path(file): Path<String>) -> Result<Response, WebError> {
    let (body, kind): (&'static str, &str) = match file.as_str() {
        "app.css" => (
            include_str!("../../static/app.css"),
            "text/css; charset=utf-8",
        ),
        "app.js" => (
            include_str!("../../static/app.js"),
            "text/javascript; charset=utf-8",
        ),
        "favicon.svg" => (include_str!("../../static/favicon.svg"), "image/svg+xml"),
        _ => return Err(WebError::NotFound),
    };
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response())
}
