//! The records of the domain as the rest of the product reads them.

use crate::access::TicketParties;
use crate::masterdata::{FieldChange, Period, SystemKind, UnitKind};
use crate::ticket::{
    EntryKind, Impact, Priority, TicketKind, TicketNumber, TicketStatus, TicketType, Urgency,
};
use crate::{Email, Id, Timestamp};

#[derive(Clone, Debug, serde::Serialize)]
pub struct BusinessPartner {
    pub id: Id,
    pub customer_number: String,
    pub name: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Person {
    pub id: Id,
    pub email: Email,
    pub name: String,
    pub phone: String,
    pub language: String,
    pub agent: bool,
    pub active: bool,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Service {
    pub id: Id,
    pub business_partner_id: Id,
    pub name: String,
    pub description: String,
    /// Retired services stay on old tickets but are offered no more.
    pub active: bool,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct System {
    pub id: Id,
    pub business_partner_id: Id,
    pub kind: SystemKind,
    pub name: String,
    pub inventory_number: String,
    pub user_id: Option<Id>,
    pub user_name: Option<String>,
    /// Retired systems stay on old tickets but are offered no more.
    pub active: bool,
}

/// A department or location of a business partner.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PartnerUnit {
    pub id: Id,
    pub business_partner_id: Id,
    pub kind: UnitKind,
    pub name: String,
}

/// A contract of a business partner with the persons it authorises.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Contract {
    pub id: Id,
    pub business_partner_id: Id,
    pub name: String,
    pub period: Period,
    pub in_force: bool,
    pub authorisations: Vec<Authorisation>,
}

/// A person named as authorised in a contract, for a period.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Authorisation {
    pub id: Id,
    pub contract_id: Id,
    pub person_id: Id,
    pub person_name: String,
    pub person_email: Email,
    pub period: Period,
    /// In force now: its own period and the contract's both.
    pub in_force: bool,
}

/// A person's membership in a business partner, as the desk sees it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MembershipView {
    pub business_partner: BusinessPartner,
    pub unit_id: Option<Id>,
    pub unit_name: Option<String>,
    pub authorised: bool,
}

/// A member of a business partner, as the desk sees it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Member {
    pub person: Person,
    pub unit_name: Option<String>,
    pub authorised: bool,
}

/// One change of master data: who, when, what.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ChangeEntry {
    pub id: Id,
    pub at: Timestamp,
    pub actor_name: Option<String>,
    pub object_kind: String,
    pub object_id: Id,
    pub action: String,
    pub changes: Vec<FieldChange>,
}

/// One choice offered by a picker.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PickItem {
    pub id: Id,
    pub label: String,
    pub detail: String,
}

/// A ticket with the names of the things it refers to, ready to show.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Ticket {
    pub id: Id,
    pub number: TicketNumber,
    pub business_partner_id: Id,
    pub business_partner_name: String,
    pub customer_number: String,
    pub kind: TicketKind,
    pub status: TicketStatus,
    pub reported_by: Id,
    pub reported_by_name: String,
    pub reported_for: Id,
    pub reported_for_name: String,
    pub reference: String,
    pub short_text: String,
    pub description: String,
    pub impact: Impact,
    pub urgency: Urgency,
    pub ticket_type: TicketType,
    pub priority: Priority,
    pub service_id: Option<Id>,
    pub service_name: Option<String>,
    pub system_id: Option<Id>,
    pub system_name: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Ticket {
    pub fn parties(&self) -> TicketParties {
        TicketParties {
            business_partner: self.business_partner_id,
            reported_by: self.reported_by,
            reported_for: self.reported_for,
        }
    }
}

/// One line of a ticket list.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TicketSummary {
    pub id: Id,
    pub number: TicketNumber,
    pub kind: TicketKind,
    pub status: TicketStatus,
    pub priority: Priority,
    pub short_text: String,
    pub reference: String,
    pub business_partner_name: String,
    pub reported_for_name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Entry {
    pub id: Id,
    pub kind: EntryKind,
    pub author_id: Option<Id>,
    pub author_name: Option<String>,
    pub body: String,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Attachment {
    pub id: Id,
    pub ticket_id: Id,
    pub entry_id: Option<Id>,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub storage_key: String,
    pub created_at: Timestamp,
}

/// A new ticket as the portal or the desk submits it, already validated.
#[derive(Clone, Debug)]
pub struct NewTicket {
    pub business_partner_id: Id,
    pub reported_by: Id,
    pub reported_for: Id,
    pub reference: String,
    pub short_text: String,
    pub description: String,
    pub impact: Impact,
    pub urgency: Urgency,
    pub ticket_type: TicketType,
    pub service_id: Option<Id>,
    pub system_id: Option<Id>,
}

/// A file already written to the attachment store, to be recorded.
#[derive(Clone, Debug)]
pub struct NewAttachment {
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub storage_key: String,
}
