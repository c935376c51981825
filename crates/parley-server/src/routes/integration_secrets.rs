//! `/integration_secrets`: secrets referenced by `*_ref` fields.
//!
//! Create (201, `{data}`), list (`{data, meta}`, `filter[type]`, always paginated) and delete
//! (204). There is no retrieve or update, and no response ever carries a value: values are
//! sealed (see [`crate::secrets`]) before they reach the store.

use crate::error::{ApiError, ApiResult};
use crate::extract::DEFAULT_PAGE_SIZE;
use crate::extract::{kind_of, require_object, JsonBody, Pagination, Path, QueryParams};
use crate::secrets::SecretValue;
use crate::state::{AppState, Tenant};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use parley_core::clock::format_timestamp;
use parley_core::secrets::SecretId;
use parley_core::{FieldError, ValidationErrors};
use parley_store::{CreateSecretOutcome, NewSecretRecord, SecretKind, SecretRecord};
use parley_types::Meta;
use serde_json::{json, Map, Value};

/// Longest identifier, in characters.
pub const MAX_IDENTIFIER_LEN: usize = 255;
/// `record_type` of every item.
pub const RECORD_TYPE: &str = "integration_secret";

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/integration_secrets",
            get(list_secrets).post(create_secret),
        )
        .route("/integration_secrets/{id}", delete(delete_secret))
}

/// The wire object: everything but the value.
pub fn render(record: &SecretRecord) -> Value {
    json!({
        "record_type": RECORD_TYPE,
        "id": record.id.as_str(),
        "identifier": record.identifier,
        "created_at": format_timestamp(&record.created_at),
        "updated_at": format_timestamp(&record.updated_at),
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        resource: "Integration secret",
        id: id.to_owned(),
        pointer: "/id",
    }
}

/// Whether `identifier` is 1 to 255 characters of `A-Z a-z 0-9 _ . -`.
pub fn valid_identifier(identifier: &str) -> bool {
    (1..=MAX_IDENTIFIER_LEN).contains(&identifier.len())
        && identifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A required, non-empty string field without NUL. Messages never repeat the value.
fn required_text(
    body: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let pointer = format!("/{field}");
    match body.get(field) {
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid(
                pointer,
                format!("`{field}` is required"),
            ));
            None
        }
        Some(Value::String(text)) if text.is_empty() => {
            errors.push(FieldError::invalid(
                pointer,
                format!("`{field}` must not be empty"),
            ));
            None
        }
        Some(Value::String(text)) if text.contains('\0') => {
            errors.push(FieldError::invalid(
                pointer,
                format!("`{field}` must not contain the NUL character (U+0000)"),
            ));
            None
        }
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => {
            errors.push(FieldError::invalid(
                pointer,
                format!("`{field}` must be a string, not {}", kind_of(other)),
            ));
            None
        }
    }
}

/// Parses a create body into the identifier and the value; every problem is reported, each
/// with a pointer. Fields the type does not use, and unknown fields, are ignored.
pub fn parse_create(body: &Map<String, Value>) -> Result<(String, SecretValue), ValidationErrors> {
    let mut errors = Vec::new();
    let identifier = required_text(body, "identifier", &mut errors).and_then(|id| {
        if valid_identifier(&id) {
            Some(id)
        } else {
            errors.push(FieldError::invalid(
                "/identifier",
                format!(
                    "`identifier` must be 1 to {MAX_IDENTIFIER_LEN} characters of letters, digits, \
                     `_`, `.` and `-`"
                ),
            ));
            None
        }
    });
    let kind = match body.get("type") {
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid("/type", "`type` is required"));
            None
        }
        Some(Value::String(text)) => match SecretKind::parse(text) {
            Some(kind) => Some(kind),
            None => {
                errors.push(FieldError::invalid(
                    "/type",
                    "`type` must be one of: bearer, basic",
                ));
                None
            }
        },
        Some(other) => {
            errors.push(FieldError::invalid(
                "/type",
                format!("`type` must be a string, not {}", kind_of(other)),
            ));
            None
        }
    };
    let value = match kind {
        Some(SecretKind::Bearer) => {
            required_text(body, "token", &mut errors).map(|token| SecretValue::Bearer { token })
        }
        Some(SecretKind::Basic) => {
            let username = required_text(body, "username", &mut errors);
            let password = required_text(body, "password", &mut errors);
            username
                .zip(password)
                .map(|(username, password)| SecretValue::Basic { username, password })
        }
        None => None,
    };
    match (identifier, value) {
        (Some(identifier), Some(value)) if errors.is_empty() => Ok((identifier, value)),
        _ => Err(ValidationErrors(errors)),
    }
}

/// `POST /integration_secrets`: 201 with `{data}`; 422 at `/identifier` when the
/// organization already has a secret with that identifier.
async fn create_secret(
    State(state): State<AppState>,
    tenant: Tenant,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = require_object(body)?;
    let (identifier, value) = parse_create(&body)?;
    let sealed = value.seal(&state.cipher, &tenant.org_id, &identifier)?;
    let new = NewSecretRecord {
        id: SecretId::generate(),
        identifier: identifier.clone(),
        kind: value.kind(),
        sealed,
    };
    match state
        .store
        .create_secret(&tenant.org_id, new, state.clock.now())
        .await?
    {
        CreateSecretOutcome::Created(record) => Ok((
            StatusCode::CREATED,
            Json(json!({ "data": render(&record) })),
        )),
        CreateSecretOutcome::DuplicateIdentifier => Err(ApiError::Validation(
            FieldError::invalid(
                "/identifier",
                format!("an integration secret with identifier {identifier:?} already exists"),
            )
            .into(),
        )),
    }
}

/// `GET /integration_secrets`: oldest first, `filter[type]`, `page[number]`/`page[size]`
/// (default 1 and 20); `meta` echoes the page served.
async fn list_secrets(
    State(state): State<AppState>,
    tenant: Tenant,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let kind = match query.get("filter[type]") {
        None => None,
        Some(text) => Some(
            SecretKind::parse(text).ok_or_else(|| ApiError::InvalidParameter {
                parameter: "filter[type]".into(),
                detail: format!("`filter[type]` must be bearer or basic, not {text:?}"),
            })?,
        ),
    };
    let page = Pagination::from_query(&query)?.unwrap_or(Pagination {
        number: 1,
        size: DEFAULT_PAGE_SIZE,
    });
    let (records, total) = state
        .store
        .list_secrets(&tenant.org_id, kind, page.window())
        .await?;
    let data: Vec<Value> = records.iter().map(render).collect();
    Ok(Json(json!({
        "data": data,
        "meta": Meta::new(page.number, page.size, total),
    })))
}

/// `DELETE /integration_secrets/{id}`: 204 with no body.
async fn delete_secret(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state
        .store
        .delete_secret(&tenant.org_id, &SecretId::from_string(&id))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointers(body: Value) -> Vec<String> {
        let body = body.as_object().unwrap().clone();
        match parse_create(&body) {
            Ok(_) => vec![],
            Err(errors) => errors.0.into_iter().map(|e| e.pointer).collect(),
        }
    }

    #[test]
    fn bodies_parse_into_values_and_ignore_fields_the_type_does_not_use() {
        let body =
            json!({"identifier": "a.b-c_1", "type": "bearer", "token": "t", "password": 5, "x": 1});
        let (identifier, value) = parse_create(body.as_object().unwrap()).unwrap();
        assert_eq!(identifier, "a.b-c_1");
        assert_eq!(value, SecretValue::Bearer { token: "t".into() });
        let body = json!({"identifier": "b", "type": "basic", "username": "u", "password": "p", "token": null});
        let (_, value) = parse_create(body.as_object().unwrap()).unwrap();
        assert_eq!(
            value,
            SecretValue::Basic {
                username: "u".into(),
                password: "p".into()
            }
        );
    }

    #[test]
    fn every_problem_has_a_pointer_and_no_message_repeats_a_value() {
        assert_eq!(pointers(json!({})), ["/identifier", "/type"]);
        assert_eq!(
            pointers(json!({"identifier": "has space", "type": "bearer"})),
            ["/identifier", "/token"]
        );
        assert_eq!(
            pointers(json!({"identifier": "x".repeat(256), "type": "nope"})),
            ["/identifier", "/type"]
        );
        assert!(
            pointers(json!({"identifier": "x".repeat(255), "type": "bearer", "token": "t"}))
                .is_empty()
        );
        assert_eq!(
            pointers(json!({"identifier": "ok", "type": "basic", "username": "", "password": 1})),
            ["/username", "/password"]
        );
        assert_eq!(
            pointers(json!({"identifier": "ok\u{0}", "type": 3, "token": "t"})),
            ["/identifier", "/type"]
        );
        let body = json!({"identifier": "ok", "type": "bearer", "token": "sec\u{0}ret-value"});
        let errors = parse_create(body.as_object().unwrap()).unwrap_err();
        assert_eq!(errors.0[0].pointer, "/token");
        assert!(!errors.to_string().contains("ret-value"), "{errors}");
        assert!(!valid_identifier("é") && !valid_identifier("") && valid_identifier("A-z.0_"));
    }
}
