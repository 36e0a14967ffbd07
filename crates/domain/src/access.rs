//! Who may see and do what. Every path of the product (pages, downloads,
//! lists, counts, later mail and the API) asks these questions here and
//! nowhere else.

use crate::Id;
use crate::error::DomainError;
use crate::ticket::{EntryKind, TicketKind, TicketStatus};

/// A person's membership in one business partner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub business_partner: Id,
    /// Named as authorised ("weisungsberechtigt") in a contract in force today.
    pub authorised: bool,
}

/// The signed-in person, as far as authority goes.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub person: Id,
    pub agent: bool,
    pub memberships: Vec<Membership>,
}

/// The parties of a ticket that decide who may see it.
#[derive(Clone, Copy, Debug)]
pub struct TicketParties {
    pub business_partner: Id,
    pub reported_by: Id,
    pub reported_for: Id,
}

/// The lists of tickets a person can open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Catalog {
    MyOpen,
    MyClosed,
    PartnerOpen,
    PartnerClosed,
    DeskOpen,
    DeskNewCalls,
    DeskClosed,
}

/// Which tickets a list may contain, in storage-neutral terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every ticket: the desk.
    All,
    /// Tickets reported by or for this person, within these business partners.
    Involving { person: Id, partners: Vec<Id> },
    /// Every ticket of these business partners.
    Partners(Vec<Id>),
}

/// Which statuses and kinds a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    Open,
    Closed,
    NewCalls,
}

impl Viewer {
    pub fn is_member_of(&self, business_partner: Id) -> bool {
        self.memberships
            .iter()
            .any(|m| m.business_partner == business_partner)
    }

    pub fn is_authorised_for(&self, business_partner: Id) -> bool {
        self.memberships
            .iter()
            .any(|m| m.business_partner == business_partner && m.authorised)
    }

    fn partners(&self) -> Vec<Id> {
        self.memberships
            .iter()
            .map(|m| m.business_partner)
            .collect()
    }

    fn authorised_partners(&self) -> Vec<Id> {
        self.memberships
            .iter()
            .filter(|m| m.authorised)
            .map(|m| m.business_partner)
            .collect()
    }

    /// May this person see this ticket? Agents see every ticket; a customer
    /// sees tickets of their business partners that they reported or that
    /// were reported for them, and an authorised person all tickets of the
    /// business partners they are authorised for.
    pub fn may_see_ticket(&self, t: &TicketParties) -> bool {
        if self.agent {
            return true;
        }
        if !self.is_member_of(t.business_partner) {
            return false;
        }
        t.reported_by == self.person
            || t.reported_for == self.person
            || self.is_authorised_for(t.business_partner)
    }

    /// Whether internal desk entries are shown: only ever to agents.
    pub fn sees_internal(&self) -> bool {
        self.agent
    }

    /// The entry kinds this viewer may see.
    pub fn visible_entry_kinds(&self) -> Vec<EntryKind> {
        EntryKind::ALL
            .iter()
            .copied()
            .filter(|k| self.sees_internal() || k.customer_visible())
            .collect()
    }

    /// May this person open a ticket in this business partner for that person?
    /// For oneself: any member. For someone else: only the authorised, and
    /// only for members of the same business partner (checked by the caller
    /// with `other_is_member`).
    pub fn may_create_ticket(
        &self,
        business_partner: Id,
        reported_for: Id,
        other_is_member: bool,
    ) -> bool {
        if !self.is_member_of(business_partner) {
            return false;
        }
        reported_for == self.person || (self.is_authorised_for(business_partner) && other_is_member)
    }

    /// The entry kinds this viewer writes, the safest first: an agent's
    /// form starts at the internal note, so a quick note is never
    /// published to the customer or solves the ticket by accident.
    pub fn writable_entry_kinds(&self) -> &'static [EntryKind] {
        if self.agent {
            &[
                EntryKind::InternalNote,
                EntryKind::DeskQuestion,
                EntryKind::Solution,
            ]
        } else {
            &[EntryKind::CustomerNote, EntryKind::CustomerQuestion]
        }
    }

    /// May this viewer add an entry of this kind to a ticket it may see?
    pub fn may_write_entry(&self, kind: EntryKind) -> bool {
        if self.agent {
            kind.desk_writable()
        } else {
            kind.customer_writable()
        }
    }

    /// May this viewer edit the initial report? Only its reporter or the
    /// person it was reported for, and only while the ticket is an open call.
    pub fn may_edit_report(
        &self,
        t: &TicketParties,
        kind: TicketKind,
        status: TicketStatus,
    ) -> Result<(), DomainError> {
        if !self.may_see_ticket(t) {
            return Err(DomainError::NotFound);
        }
        if status == TicketStatus::Closed {
            return Err(DomainError::Conflict("ticket_closed"));
        }
        if !kind.report_editable() {
            return Err(DomainError::Conflict("report_locked"));
        }
        if self.agent || t.reported_by == self.person || t.reported_for == self.person {
            Ok(())
        } else {
            Err(DomainError::Conflict("report_not_yours"))
        }
    }

    /// May this viewer work tickets at the desk (classify, change status, solve)?
    pub fn may_work_tickets(&self) -> bool {
        self.agent
    }

    /// May this viewer see this business partner (its name, services,
    /// systems)? Agents all; customers those they belong to.
    pub fn may_see_partner(&self, business_partner: Id) -> bool {
        self.agent || self.is_member_of(business_partner)
    }

    /// May this viewer see this service or system? Agents every one;
    /// customers those of their business partners still in use.
    pub fn may_see_offering(&self, business_partner: Id, active: bool) -> bool {
        self.agent || (active && self.is_member_of(business_partner))
    }

    /// May this viewer look up the persons of this business partner (the
    /// "reported for" picker)? Agents and the persons authorised for it.
    pub fn may_list_persons_of(&self, business_partner: Id) -> bool {
        self.agent || self.is_authorised_for(business_partner)
    }

    /// The business partners this viewer may open tickets in: for
    /// themselves every one they belong to, for others those they are
    /// authorised for. Agents open tickets at the desk, not here.
    pub fn partners_to_report_in(&self, for_others: bool) -> Vec<Id> {
        if self.agent {
            return Vec::new();
        }
        if for_others {
            self.authorised_partners()
        } else {
            self.partners()
        }
    }

    /// The tile "Neues Ticket für jemanden anlegen".
    pub fn may_report_for_others(&self) -> bool {
        !self.partners_to_report_in(true).is_empty()
    }

    /// The tile "Meine Services": customers with a business partner.
    pub fn may_see_own_services(&self) -> bool {
        !self.agent && !self.memberships.is_empty()
    }

    /// Keeping master data (business partners, persons, contracts,
    /// services, systems, imports) is the desk's.
    pub fn may_keep_master_data(&self) -> bool {
        self.agent
    }

    /// The scope and status filter behind a catalog, or `None` when this
    /// viewer may not open it (its URL then answers 404). The business
    /// partner catalogs can be narrowed to one business partner the viewer
    /// is authorised for; no other catalog takes one.
    pub fn catalog(&self, catalog: Catalog, partner: Option<Id>) -> Option<(Scope, StatusFilter)> {
        let mine = || Scope::Involving {
            person: self.person,
            partners: self.partners(),
        };
        let partner_scope = || {
            let partners = match partner {
                Some(bp) if self.is_authorised_for(bp) => vec![bp],
                Some(_) => Vec::new(),
                None => self.authorised_partners(),
            };
            (!partners.is_empty()).then_some(Scope::Partners(partners))
        };
        let partner_catalog = matches!(catalog, Catalog::PartnerOpen | Catalog::PartnerClosed);
        if partner.is_some() && !partner_catalog {
            return None;
        }
        match (catalog, self.agent) {
            (Catalog::MyOpen, false) => Some((mine(), StatusFilter::Open)),
            (Catalog::MyClosed, false) => Some((mine(), StatusFilter::Closed)),
            (Catalog::PartnerOpen, false) => partner_scope().map(|s| (s, StatusFilter::Open)),
            (Catalog::PartnerClosed, false) => partner_scope().map(|s| (s, StatusFilter::Closed)),
            (Catalog::DeskOpen, true) => Some((Scope::All, StatusFilter::Open)),
            (Catalog::DeskNewCalls, true) => Some((Scope::All, StatusFilter::NewCalls)),
            (Catalog::DeskClosed, true) => Some((Scope::All, StatusFilter::Closed)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(person: Id, bp: Id, authorised: bool) -> Viewer {
        Viewer {
            person,
            agent: false,
            memberships: vec![Membership {
                business_partner: bp,
                authorised,
            }],
        }
    }

    const T: TicketParties = TicketParties {
        business_partner: 1,
        reported_by: 10,
        reported_for: 11,
    };

    #[test]
    fn customers_see_their_own_tickets_only() {
        assert!(customer(10, 1, false).may_see_ticket(&T));
        assert!(customer(11, 1, false).may_see_ticket(&T));
        assert!(!customer(12, 1, false).may_see_ticket(&T));
        assert!(customer(12, 1, true).may_see_ticket(&T));
    }

    #[test]
    fn other_business_partners_see_nothing() {
        assert!(!customer(10, 2, true).may_see_ticket(&T));
        assert!(
            customer(13, 2, true)
                .catalog(Catalog::DeskOpen, None)
                .is_none()
        );
        assert!(!customer(13, 2, true).may_see_partner(1));
        assert!(!customer(13, 2, true).may_see_offering(1, true));
        assert!(!customer(13, 2, true).may_list_persons_of(1));
    }

    #[test]
    fn partner_catalogs_narrow_to_authorised_partners_only() {
        let both = Viewer {
            person: 5,
            agent: false,
            memberships: vec![
                Membership {
                    business_partner: 1,
                    authorised: false,
                },
                Membership {
                    business_partner: 2,
                    authorised: true,
                },
            ],
        };
        assert_eq!(
            both.catalog(Catalog::PartnerOpen, None),
            Some((Scope::Partners(vec![2]), StatusFilter::Open))
        );
        assert_eq!(
            both.catalog(Catalog::PartnerClosed, Some(2)),
            Some((Scope::Partners(vec![2]), StatusFilter::Closed))
        );
        assert_eq!(both.catalog(Catalog::PartnerOpen, Some(1)), None);
        assert_eq!(both.catalog(Catalog::PartnerOpen, Some(3)), None);
        assert_eq!(both.catalog(Catalog::MyOpen, Some(2)), None);
        assert_eq!(both.partners_to_report_in(true), vec![2]);
        assert_eq!(both.partners_to_report_in(false), vec![1, 2]);
        assert!(both.may_list_persons_of(2) && !both.may_list_persons_of(1));
    }

    #[test]
    fn end_users_neither_list_persons_nor_see_retired_offerings() {
        let v = customer(10, 1, false);
        assert!(!v.may_report_for_others());
        assert!(!v.may_list_persons_of(1));
        assert!(v.may_see_offering(1, true));
        assert!(!v.may_see_offering(1, false));
        assert!(v.may_see_own_services());
        assert!(!v.may_keep_master_data());
        assert!(v.catalog(Catalog::PartnerOpen, None).is_none());
    }

    #[test]
    fn report_is_editable_only_as_call() {
        let v = customer(10, 1, false);
        assert!(
            v.may_edit_report(&T, TicketKind::Call, TicketStatus::New)
                .is_ok()
        );
        assert_eq!(
            v.may_edit_report(&T, TicketKind::Incident, TicketStatus::Closed),
            Err(DomainError::Conflict("ticket_closed"))
        );
        assert_eq!(
            v.may_edit_report(&T, TicketKind::Incident, TicketStatus::New),
            Err(DomainError::Conflict("report_locked"))
        );
        assert_eq!(
            customer(12, 1, false).may_edit_report(&T, TicketKind::Call, TicketStatus::New),
            Err(DomainError::NotFound)
        );
    }

    #[test]
    fn customers_cannot_write_desk_entries() {
        let v = customer(10, 1, false);
        assert!(!v.may_write_entry(EntryKind::InternalNote));
        assert!(!v.may_write_entry(EntryKind::Solution));
        assert!(v.may_write_entry(EntryKind::CustomerQuestion));
        assert!(!v.visible_entry_kinds().contains(&EntryKind::InternalNote));
    }

    #[test]
    fn only_authorised_create_for_others() {
        assert!(customer(10, 1, false).may_create_ticket(1, 10, true));
        assert!(!customer(10, 1, false).may_create_ticket(1, 11, true));
        assert!(customer(10, 1, true).may_create_ticket(1, 11, true));
        assert!(!customer(10, 1, true).may_create_ticket(1, 11, false));
        assert!(!customer(10, 1, true).may_create_ticket(2, 10, true));
    }
}
