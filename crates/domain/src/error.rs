//! The one error type of the domain. Each variant carries a stable code
//! that the web layer translates into the user's language.

/// A problem with one field of a form, named by the field and a message key.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub code: &'static str,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DomainError {
    /// One or more fields are invalid; nothing was written.
    #[error("invalid input: {0:?}")]
    Invalid(Vec<FieldError>),
    /// The object does not exist for this viewer. Objects out of a viewer's
    /// scope are reported exactly like missing ones, so their existence is
    /// never revealed.
    #[error("not found")]
    NotFound,
    /// The action is not possible in the object's current state; the code
    /// names the reason for the user.
    #[error("not possible now: {0}")]
    Conflict(&'static str),
}

impl DomainError {
    pub fn invalid(field: &'static str, code: &'static str) -> Self {
        Self::Invalid(vec![FieldError { field, code }])
    }
}
