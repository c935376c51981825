//! The one error type of the SDK.

use parley_types::ErrorEnvelope;
use std::fmt;

/// Everything a call can fail with.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a non-2xx status (after any retries).
    Api {
        /// The HTTP status.
        status: u16,
        /// The Telnyx error envelope, when the body was one.
        envelope: Option<ErrorEnvelope>,
        /// The response body as received.
        body: String,
    },
    /// The request did not get a response: connection refused or reset, DNS, TLS, a body
    /// cut short (after any retries).
    Transport(reqwest::Error),
    /// No complete response within the timeout (after any retries).
    Timeout,
    /// A 2xx response whose body is not what the endpoint returns.
    Decode(serde_json::Error),
    /// The call was refused before anything was sent: an empty id, an invalid base URL or
    /// header, a body that cannot be encoded.
    InvalidArgument(String),
    /// A streamed response failed after the server had answered 2xx: it sent an `error`
    /// event (with its Telnyx envelope), sent an event that cannot be read, or ended before
    /// its final event.
    Stream {
        /// The envelope of the `error` event, when the server sent one.
        envelope: Option<ErrorEnvelope>,
        /// What went wrong, when there is no envelope.
        message: String,
    },
}

/// The result of every SDK call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The HTTP status of an [`Error::Api`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The error envelope of an [`Error::Api`] or [`Error::Stream`], when the server sent one.
    pub fn envelope(&self) -> Option<&ErrorEnvelope> {
        match self {
            Error::Api { envelope, .. } | Error::Stream { envelope, .. } => envelope.as_ref(),
            _ => None,
        }
    }

    /// The `code` of the first error in the envelope (`"10005"`).
    pub fn code(&self) -> Option<&str> {
        self.envelope()
            .and_then(|e| e.errors.first())
            .map(|e| e.code.as_str())
    }

    /// Whether the server answered 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

impl fmt::Display for Error {
    /// One line: for API errors, the status and each error's title, detail and source.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api {
                status,
                envelope: Some(envelope),
                ..
            } if !envelope.errors.is_empty() => {
                write!(f, "{status} ")?;
                write_envelope(f, envelope)
            }
            Error::Stream {
                envelope: Some(envelope),
                ..
            } if !envelope.errors.is_empty() => {
                f.write_str("stream failed: ")?;
                write_envelope(f, envelope)
            }
            Error::Stream { message, .. } => write!(f, "stream failed: {}", one_line(message)),
            Error::Api { status, body, .. } => {
                let body = one_line(body.trim());
                if body.is_empty() {
                    write!(f, "HTTP {status}")
                } else {
                    let cut: String = body.chars().take(200).collect();
                    write!(f, "HTTP {status}: {cut}")
                }
            }
            Error::Transport(e) => {
                write!(f, "request failed: {e}")?;
                let mut source = std::error::Error::source(e);
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
            Error::Timeout => f.write_str("request timed out"),
            Error::Decode(e) => write!(f, "unexpected response body: {e}"),
            Error::InvalidArgument(message) => f.write_str(message),
        }
    }
}

/// Each error's title, detail and source, `; `-separated.
fn write_envelope(f: &mut fmt::Formatter<'_>, envelope: &ErrorEnvelope) -> fmt::Result {
    for (i, error) in envelope.errors.iter().enumerate() {
        if i > 0 {
            f.write_str("; ")?;
        }
        f.write_str(&one_line(&error.title))?;
        if let Some(detail) = error.detail.as_deref().filter(|d| !d.is_empty()) {
            write!(f, ": {}", one_line(detail))?;
        }
        if let Some(source) = &error.source {
            if let Some(at) = source.pointer.as_deref().filter(|p| !p.is_empty()) {
                write!(f, " (at {at})")?;
            } else if let Some(parameter) = &source.parameter {
                write!(f, " (parameter {parameter})")?;
            }
        }
    }
    Ok(())
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Transport(e) => Some(e),
            Error::Decode(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_types::{ErrorObject, ErrorSource};

    #[test]
    fn api_errors_read_as_one_line_with_title_detail_and_source() {
        let error = Error::Api {
            status: 422,
            envelope: Some(ErrorEnvelope {
                errors: vec![
                    ErrorObject {
                        code: "10016".into(),
                        title: "Invalid value".into(),
                        detail: Some("`name` is\nrequired".into()),
                        source: Some(ErrorSource {
                            pointer: Some("/name".into()),
                            parameter: None,
                        }),
                        meta: None,
                    },
                    ErrorObject {
                        code: "10016".into(),
                        title: "Invalid value".into(),
                        detail: None,
                        source: None,
                        meta: None,
                    },
                ],
            }),
            body: String::new(),
        };
        assert_eq!(
            error.to_string(),
            "422 Invalid value: `name` is required (at /name); Invalid value"
        );
        assert_eq!(error.code(), Some("10016"));
        let plain = Error::Api {
            status: 502,
            envelope: None,
            body: "<html>\nbad gateway</html>".into(),
        };
        assert_eq!(plain.to_string(), "HTTP 502: <html> bad gateway</html>");
    }
}
