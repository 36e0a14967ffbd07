//! Tickets and their timeline entries: the values a ticket is made of.

use std::fmt;
use std::str::FromStr;

use crate::error::DomainError;

/// Declares a closed set of values stored and submitted as stable snake_case
/// codes. The codes double as translation keys (`<prefix>.<code>`).
macro_rules! code_enum {
    (
        $(#[$meta:meta])* $name:ident {
            $($(#[$vmeta:meta])* $variant:ident => $code:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, DomainError> {
                match s { $($code => Ok($name::$variant),)+ _ => Err(DomainError::NotFound) }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}
pub(crate) use code_enum;

code_enum! {
    /// Every portal ticket starts as a call; the desk classifies it.
    TicketKind { Call => "call", Incident => "incident", ServiceRequest => "service_request" }
}

code_enum! {
    /// Where a ticket stands. Every status but `Closed` counts as open.
    TicketStatus {
        New => "new",
        InProgress => "in_progress",
        WaitingForCustomer => "waiting_for_customer",
        Solved => "solved",
        Closed => "closed",
    }
}

code_enum! {
    /// Who is affected: the whole company, a department or location, or one person.
    Impact { Company => "company", Department => "department", Person => "person" }
}

code_enum! {
    /// Whether the affected people can work.
    Urgency {
        CannotWork => "cannot_work",
        Restricted => "restricted",
        CanWork => "can_work",
    }
}

code_enum! {
    /// What the customer says the ticket is.
    TicketType { Request => "request", Incident => "incident" }
}

code_enum! {
    /// The kinds of entries in a ticket's timeline.
    EntryKind {
        Report => "report",
        Solution => "solution",
        CustomerNote => "customer_note",
        CustomerQuestion => "customer_question",
        DeskQuestion => "desk_question",
        InternalNote => "internal_note",
        StatusChange => "status_change",
        Classification => "classification",
        ReportEdited => "report_edited",
        DeskMail => "desk_mail",
        SystemChanged => "system_changed",
    }
}

impl TicketStatus {
    pub fn is_open(self) -> bool {
        self != TicketStatus::Closed
    }
}

impl EntryKind {
    /// Whether a customer may ever see an entry of this kind. Internal
    /// notes and mail kept for the desk (from someone who is not a party
    /// of the ticket, or sent by a machine) never reach a customer, on any
    /// path.
    pub fn customer_visible(self) -> bool {
        !matches!(self, EntryKind::InternalNote | EntryKind::DeskMail)
    }

    /// The kinds a customer may see, for queries that filter in storage.
    pub fn customer_visible_kinds() -> impl Iterator<Item = EntryKind> {
        Self::ALL.iter().copied().filter(|k| k.customer_visible())
    }

    /// Kinds a customer writes from the portal.
    pub fn customer_writable(self) -> bool {
        matches!(self, EntryKind::CustomerNote | EntryKind::CustomerQuestion)
    }

    /// Kinds an agent writes from the desk.
    pub fn desk_writable(self) -> bool {
        matches!(
            self,
            EntryKind::DeskQuestion | EntryKind::InternalNote | EntryKind::Solution
        )
    }
}

impl TicketKind {
    /// While a ticket is a call, the customer may still edit the initial report.
    pub fn report_editable(self) -> bool {
        self == TicketKind::Call
    }
}

/// Ticket priority, P1 (highest) to P5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Priority(u8);

impl Priority {
    /// The ITIL 3×3 matrix: the sum of the impact and urgency ranks
    /// (1 = high, 3 = low) minus one gives P1 to P5.
    pub fn from_matrix(impact: Impact, urgency: Urgency) -> Self {
        let i = match impact {
            Impact::Company => 1,
            Impact::Department => 2,
            Impact::Person => 3,
        };
        let u = match urgency {
            Urgency::CannotWork => 1,
            Urgency::Restricted => 2,
            Urgency::CanWork => 3,
        };
        Self(i + u - 1)
    }

    pub fn from_level(level: i64) -> Option<Self> {
        (1..=5).contains(&level).then_some(Self(level as u8))
    }

    pub fn level(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P{}", self.0)
    }
}

/// A ticket number such as `2026-000042`: the year of creation and a
/// sequence within that year. Digits only, in two groups, so it is easy to
/// read aloud on the phone and to find in a mail subject.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct TicketNumber(String);

impl TicketNumber {
    pub fn new(year: i32, sequence: i64) -> Self {
        Self(format!("{year:04}-{sequence:06}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TicketNumber {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, DomainError> {
        let (year, seq) = s.trim().split_once('-').ok_or(DomainError::NotFound)?;
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if year.len() == 4 && seq.len() >= 6 && seq.len() <= 12 && digits(year) && digits(seq) {
            Ok(Self(format!("{year}-{seq}")))
        } else {
            Err(DomainError::NotFound)
        }
    }
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_matrix_is_itil() {
        use Impact::*;
        use Urgency::*;
        let p = |i, u| Priority::from_matrix(i, u).level();
        assert_eq!(p(Company, CannotWork), 1);
        assert_eq!(p(Company, Restricted), 2);
        assert_eq!(p(Department, CannotWork), 2);
        assert_eq!(p(Company, CanWork), 3);
        assert_eq!(p(Department, Restricted), 3);
        assert_eq!(p(Person, CannotWork), 3);
        assert_eq!(p(Department, CanWork), 4);
        assert_eq!(p(Person, Restricted), 4);
        assert_eq!(p(Person, CanWork), 5);
    }

    #[test]
    fn ticket_numbers_round_trip() {
        let n = TicketNumber::new(2026, 42);
        assert_eq!(n.as_str(), "2026-000042");
        assert_eq!("2026-000042".parse::<TicketNumber>().unwrap(), n);
        assert_eq!(
            "2026-1234567".parse::<TicketNumber>().unwrap().as_str(),
            "2026-1234567"
        );
        for bad in ["", "2026", "26-000042", "2026-42", "2026-00004x", "../etc"] {
            assert!(bad.parse::<TicketNumber>().is_err(), "{bad}");
        }
    }

    #[test]
    fn internal_notes_are_never_customer_visible() {
        assert!(!EntryKind::InternalNote.customer_visible());
        assert!(EntryKind::customer_visible_kinds().all(|k| k != EntryKind::InternalNote));
        assert!(EntryKind::DeskQuestion.customer_visible());
        assert!(!EntryKind::DeskMail.customer_visible());
        assert!(EntryKind::customer_visible_kinds().all(|k| k != EntryKind::DeskMail));
        assert!(EntryKind::Report.customer_visible());
    }

    #[test]
    fn codes_round_trip() {
        for k in EntryKind::ALL {
            assert_eq!(k.code().parse::<EntryKind>().unwrap(), *k);
        }
        assert!("bogus".parse::<TicketStatus>().is_err());
    }
}

/// What an entry does to a ticket's status: a question from the desk waits
/// for the customer, a solution solves, and a customer's answer or note on
/// a waiting or solved ticket puts it back to work. `None`: unchanged.
pub fn status_after_entry(kind: EntryKind, current: TicketStatus) -> Option<TicketStatus> {
    use TicketStatus::*;
    let next = match (kind, current) {
        (_, Closed) => return None,
        (EntryKind::DeskQuestion, _) => WaitingForCustomer,
        (EntryKind::Solution, _) => Solved,
        // An answer to the desk's question, or a new question on a solved
        // ticket, puts it back to work; a note on a solved ticket (a
        // "thank you") leaves the solution standing. A reply by mail is a
        // note: it answers a question, but a mail to a solved ticket may
        // just as well be the thank-you.
        (
            EntryKind::CustomerNote | EntryKind::CustomerQuestion | EntryKind::Report,
            WaitingForCustomer,
        ) => InProgress,
        (EntryKind::CustomerQuestion, Solved) => InProgress,
        _ => return None,
    };
    (next != current).then_some(next)
}

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn entries_move_the_status() {
        use EntryKind::*;
        use TicketStatus::*;
        assert_eq!(
            status_after_entry(DeskQuestion, InProgress),
            Some(WaitingForCustomer)
        );
        assert_eq!(
            status_after_entry(CustomerNote, WaitingForCustomer),
            Some(InProgress)
        );
        assert_eq!(status_after_entry(Solution, InProgress), Some(Solved));
        assert_eq!(status_after_entry(InternalNote, InProgress), None);
        assert_eq!(status_after_entry(CustomerNote, Closed), None);
        assert_eq!(
            status_after_entry(CustomerNote, Solved),
            None,
            "a thank-you"
        );
        assert_eq!(
            status_after_entry(CustomerQuestion, Solved),
            Some(InProgress)
        );
        assert_eq!(status_after_entry(CustomerNote, New), None);
        assert_eq!(
            status_after_entry(Report, WaitingForCustomer),
            Some(InProgress)
        );
        assert_eq!(status_after_entry(Report, Solved), None);
        assert_eq!(status_after_entry(DeskMail, WaitingForCustomer), None);
    }
}

/// May the desk move a ticket of this kind from one status to another?
/// `New` is where tickets start, never a target; a call is classified
/// before it is solved or closed, so no customer finds a closed call with
/// no answer; a ticket is closed once solved (closing is confirming the
/// solution), and a closed ticket may be reopened into work.
pub fn check_transition(
    kind: TicketKind,
    from: TicketStatus,
    to: TicketStatus,
) -> Result<(), DomainError> {
    use TicketStatus::*;
    match (from, to) {
        (f, t) if f == t => Ok(()),
        (_, New) => Err(DomainError::Conflict("status_new_not_allowed")),
        (_, Solved | Closed) if kind == TicketKind::Call => {
            Err(DomainError::Conflict("classify_first"))
        }
        (f, Closed) if f != Solved => Err(DomainError::Conflict("solve_first")),
        _ => Ok(()),
    }
}

/// May the desk set this status by hand? As `check_transition`, and a
/// ticket is solved only by writing its solution, so that no customer
/// finds a solved ticket without one.
pub fn check_status_change(
    kind: TicketKind,
    from: TicketStatus,
    to: TicketStatus,
) -> Result<(), DomainError> {
    if to == TicketStatus::Solved && from != TicketStatus::Solved {
        return Err(DomainError::Conflict("write_solution"));
    }
    check_transition(kind, from, to)
}

/// The statuses the desk may choose from for a ticket, for its form.
pub fn status_choices(kind: TicketKind, from: TicketStatus) -> Vec<TicketStatus> {
    TicketStatus::ALL
        .iter()
        .copied()
        .filter(|to| *to == from || check_status_change(kind, from, *to).is_ok())
        .collect()
}

/// Removes what has no place in a ticket's text: control characters (line
/// breaks and tabs stay where `multiline`) and the invisible direction
/// overrides that can make text read differently than it is stored.
pub fn clean_text(raw: &str, multiline: bool) -> String {
    let cleaned: String = raw
        .replace("\r\n", "\n")
        .chars()
        .filter(|c| {
            let bidi = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
            let kept_space = multiline && matches!(c, '\n' | '\t');
            !bidi && (!c.is_control() || kept_space)
        })
        .collect();
    cleaned.trim().to_string()
}

#[cfg(test)]
mod rule_tests {
    use super::*;

    #[test]
    fn calls_are_classified_before_they_are_solved() {
        use TicketStatus::*;
        let call = TicketKind::Call;
        let incident = TicketKind::Incident;
        assert!(check_transition(call, New, Solved).is_err());
        assert!(check_transition(call, New, Closed).is_err());
        assert!(check_transition(call, New, WaitingForCustomer).is_ok());
        assert!(check_transition(incident, InProgress, Solved).is_ok());
        assert!(check_transition(incident, InProgress, Closed).is_err());
        assert!(check_transition(incident, Solved, Closed).is_ok());
        assert!(check_transition(incident, Closed, InProgress).is_ok());
        assert!(check_transition(incident, InProgress, New).is_err());
        assert!(check_status_change(incident, InProgress, Solved).is_err());
        assert_eq!(
            status_choices(incident, InProgress),
            [InProgress, WaitingForCustomer]
        );
        assert_eq!(
            status_choices(incident, Solved),
            [InProgress, WaitingForCustomer, Solved, Closed]
        );
    }

    #[test]
    fn text_is_cleaned_of_controls_and_overrides() {
        assert_eq!(clean_text("a\u{0}b\u{1b}[31mc\u{202e}d", false), "ab[31mcd");
        assert_eq!(
            clean_text(" Zeile 1\r\n\tZeile 2 ", true),
            "Zeile 1\n\tZeile 2"
        );
        assert_eq!(clean_text("eine\nZeile", false), "eineZeile");
    }
}
