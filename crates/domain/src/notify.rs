//! Which notification mails a change of a ticket causes, and to whom.
//!
//! The rules are pure: storage calls [`recipients`] inside the transaction
//! that makes the change and writes one outbox row per answer, so a mail
//! exists exactly when its cause was committed. Customers are told what the
//! desk did; nobody is told what they did themselves, and the desk is
//! never mailed about its own work.

use std::fmt;

use crate::Id;
use crate::ticket::{EntryKind, TicketStatus};

/// A notification. The names are stable: operators override templates by
/// them and persons mute templates by them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Template {
    /// To the person who reported a ticket: it has arrived.
    TicketReceived,
    /// To the person a ticket was reported for, when that is someone else.
    TicketReceivedForYou,
    /// The desk asks the customer something.
    DeskQuestion,
    /// The ticket is solved; the mail carries the solution.
    Solution,
    /// The ticket's status changed.
    StatusChanged,
}

impl Template {
    pub const ALL: &'static [Template] = &[
        Template::TicketReceived,
        Template::TicketReceivedForYou,
        Template::DeskQuestion,
        Template::Solution,
        Template::StatusChanged,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Template::TicketReceived => "ticket_received",
            Template::TicketReceivedForYou => "ticket_received_for_you",
            Template::DeskQuestion => "desk_question",
            Template::Solution => "solution",
            Template::StatusChanged => "status_changed",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.name() == name)
    }

    /// Whether a person may mute this template. The solution always
    /// arrives: it may close the ticket.
    pub fn mutable(self) -> bool {
        self != Template::Solution
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A change of a ticket that may be worth a mail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A ticket was created (in the portal, by the desk or by mail).
    Created,
    /// An entry was written.
    Entry(EntryKind),
    /// The desk set a status by hand (close, reopen, …).
    StatusSet(TicketStatus),
}

/// One person to notify, as far as the rules need to know them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Party {
    pub person: Id,
    /// Desk staff get no customer notifications.
    pub agent: bool,
}

/// The mails `event` causes on a ticket reported by `reported_by` for
/// `reported_for`. One mail per person at most, reporter first. Only the
/// desk writes the entries and sets the statuses that cause mail, so no
/// customer is told of their own doing, except that their ticket arrived.
pub fn recipients(event: Event, reported_by: Party, reported_for: Party) -> Vec<(Template, Id)> {
    let same = reported_by.person == reported_for.person;
    let both = |template: Template| {
        let mut out = vec![(template, reported_by)];
        if !same {
            out.push((template, reported_for));
        }
        out
    };
    let candidates = match event {
        Event::Created => {
            let mut out = vec![(Template::TicketReceived, reported_by)];
            if !same {
                // A ticket the desk opens for a customer is "received" by
                // that customer; one an authorised colleague opens tells
                // the person it is for who reported it.
                let template = if reported_by.agent {
                    Template::TicketReceived
                } else {
                    Template::TicketReceivedForYou
                };
                out.push((template, reported_for));
            }
            out
        }
        Event::Entry(EntryKind::DeskQuestion) => both(Template::DeskQuestion),
        Event::Entry(EntryKind::Solution) => both(Template::Solution),
        Event::Entry(_) => Vec::new(),
        // "New" is never set by hand; the other statuses are news.
        Event::StatusSet(TicketStatus::New) => Vec::new(),
        Event::StatusSet(_) => both(Template::StatusChanged),
    };
    candidates
        .into_iter()
        .filter(|(_, party)| !party.agent)
        .map(|(template, party)| (template, party.person))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANNA: Party = Party {
        person: 1,
        agent: false,
    };
    const BERND: Party = Party {
        person: 2,
        agent: false,
    };
    const DESK: Party = Party {
        person: 9,
        agent: true,
    };

    #[test]
    fn a_ticket_for_oneself_tells_the_reporter() {
        assert_eq!(
            recipients(Event::Created, ANNA, ANNA),
            vec![(Template::TicketReceived, 1)]
        );
    }

    #[test]
    fn a_ticket_for_a_colleague_tells_both() {
        assert_eq!(
            recipients(Event::Created, ANNA, BERND),
            vec![
                (Template::TicketReceived, 1),
                (Template::TicketReceivedForYou, 2)
            ]
        );
    }

    #[test]
    fn a_ticket_the_desk_opens_tells_the_customer_only() {
        assert_eq!(
            recipients(Event::Created, DESK, BERND),
            vec![(Template::TicketReceived, 2)]
        );
    }

    #[test]
    fn the_desk_s_question_and_solution_reach_both_parties() {
        for (kind, template) in [
            (EntryKind::DeskQuestion, Template::DeskQuestion),
            (EntryKind::Solution, Template::Solution),
        ] {
            assert_eq!(
                recipients(Event::Entry(kind), ANNA, BERND),
                vec![(template, 1), (template, 2)]
            );
        }
    }

    #[test]
    fn internal_notes_and_customer_entries_cause_no_mail() {
        for kind in [
            EntryKind::InternalNote,
            EntryKind::CustomerNote,
            EntryKind::CustomerQuestion,
            EntryKind::Report,
        ] {
            assert!(recipients(Event::Entry(kind), ANNA, BERND).is_empty());
        }
    }

    #[test]
    fn a_status_set_by_the_desk_is_news() {
        assert_eq!(
            recipients(Event::StatusSet(TicketStatus::Closed), ANNA, ANNA),
            vec![(Template::StatusChanged, 1)]
        );
        assert!(recipients(Event::StatusSet(TicketStatus::New), ANNA, ANNA).is_empty());
    }

    #[test]
    fn only_the_solution_cannot_be_muted() {
        let fixed: Vec<_> = Template::ALL.iter().filter(|t| !t.mutable()).collect();
        assert_eq!(fixed, vec![&Template::Solution]);
        for t in Template::ALL {
            assert_eq!(Template::from_name(t.name()), Some(*t));
        }
    }
}
