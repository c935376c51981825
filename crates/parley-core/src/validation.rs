//! The error every parser in this crate returns: a list of problems, each pointing at a field.

use std::fmt;

/// What kind of problem a [`FieldError`] is; the server maps kinds to status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// The value does not fit the contract (type, enum, range, required field).
    Invalid,
    /// The value conflicts with another value (a second tool of a single-instance type).
    Duplicate,
    /// The value breaks a rule involving other fields or the current time (a scheduled time
    /// in the past, an SMS event without `text`); Telnyx answers these with 400.
    Rule,
}

/// One problem with a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON pointer to the offending value (`/tools/1/type`); empty for the whole body.
    pub pointer: String,
    /// What is wrong, in words a developer can act on.
    pub message: String,
    /// The kind of problem.
    pub kind: FieldErrorKind,
}

impl FieldError {
    /// An [`FieldErrorKind::Invalid`] error.
    pub fn invalid(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
            kind: FieldErrorKind::Invalid,
        }
    }

    /// A [`FieldErrorKind::Rule`] error.
    pub fn rule(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
            kind: FieldErrorKind::Rule,
        }
    }

    /// A [`FieldErrorKind::Duplicate`] error.
    pub fn duplicate(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
            kind: FieldErrorKind::Duplicate,
        }
    }
}

/// A non-empty list of problems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// A list holding one error.
    pub fn one(error: FieldError) -> Self {
        Self(vec![error])
    }
}

impl From<FieldError> for ValidationErrors {
    fn from(error: FieldError) -> Self {
        Self::one(error)
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.pointer, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}
