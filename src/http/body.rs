//! Request bodies, validated the way the EM backend's OData model binder does
//! (its `InvalidModel` is captured in microsoftgraph/msgraph-sdk-powershell#1821; the rest is
//! listed in docs/PARITY.md):
//! - the body must be JSON (`Content-Type: application/json…`), else 415 [inf];
//! - malformed JSON, a non-object, or a wrong-typed value is 400 `InvalidModel`;
//! - `@odata.*` annotations and read-only properties (`id`, `createdDateTime`, …) are ignored in
//!   both versions; any other unknown property is `InvalidModel` on v1.0 and dropped on beta.

use axum::http::HeaderMap;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::GraphError;
use crate::model::ApiVersion;
use crate::ops::Patch;

/// Properties the server owns on every EM entity; clients may echo them back harmlessly.
pub(crate) const READ_ONLY: [&str; 5] = [
    "id",
    "createdDateTime",
    "modifiedDateTime",
    "createdBy",
    "modifiedBy",
];

fn is_json_content_type(headers: &HeaderMap) -> Result<(), GraphError> {
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE) else {
        return Err(GraphError::UnsupportedMediaType(String::new()));
    };
    let text = value.to_str().unwrap_or("");
    let mime = text.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(GraphError::UnsupportedMediaType(mime.to_string()))
    }
}

/// A body that is there and declared as JSON (its parsing is the caller's).
pub(crate) fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<(), GraphError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(GraphError::invalid_model("the request body is empty"));
    }
    is_json_content_type(headers)
}

/// The JSON object of a request body.
pub(crate) fn json_object(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Map<String, Value>, GraphError> {
    json_body(headers, body)?;
    // serde_json refuses nesting past 128 levels, so no body reaches a recursive walk deeper.
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| GraphError::invalid_model(format!("the body is not valid JSON: {e}")))?;
    check_string_lengths(&value)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(GraphError::invalid_model("the body must be a JSON object")),
    }
}

/// The longest display name accepted [inf: Graph's directory caps group and application
/// display names at 256 characters; EM's model validation is assumed to do the same].
pub(crate) const MAX_NAME_CHARS: usize = 256;

/// The longest string value accepted anywhere in a body [inf: EM's model validation refuses
/// over-long strings; no documented bound covers every property, so this one is generous].
pub(crate) const MAX_STRING_CHARS: usize = 16 * 1024;

/// Refuses any string (value or key) over [`MAX_STRING_CHARS`], walking with an explicit stack.
fn check_string_lengths(value: &Value) -> Result<(), GraphError> {
    let too_long = |s: &str| s.len() > MAX_STRING_CHARS && s.chars().count() > MAX_STRING_CHARS;
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if too_long(s) => {
                return Err(GraphError::invalid_model(format!(
                    "a string value is longer than {MAX_STRING_CHARS} characters"
                )));
            }
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => {
                for (k, v) in map {
                    if too_long(k) {
                        return Err(GraphError::invalid_model(format!(
                            "a property name is longer than {MAX_STRING_CHARS} characters"
                        )));
                    }
                    stack.push(v);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads typed properties out of a body object, enforcing the version's strictness.
#[derive(Debug)]
pub(crate) struct BodyReader {
    fields: Map<String, Value>,
}

impl BodyReader {
    /// `allowed` are the properties this operation accepts (beyond annotations and read-only ones).
    pub(crate) fn new(
        mut map: Map<String, Value>,
        version: ApiVersion,
        allowed: &[&str],
    ) -> Result<Self, GraphError> {
        map.retain(|key, _| !key.contains('@') && !READ_ONLY.contains(&key.as_str()));
        let unknown: Vec<String> = map
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            match version {
                ApiVersion::V1 => {
                    return Err(GraphError::invalid_model(format!(
                        "unknown or unsupported properties: {}",
                        unknown.join(", ")
                    )));
                }
                ApiVersion::Beta => {
                    for key in unknown {
                        map.remove(&key);
                    }
                }
            }
        }
        Ok(BodyReader { fields: map })
    }

    /// The remaining (allowed) properties, for bodies read by a domain parser.
    pub(crate) fn into_map(self) -> Map<String, Value> {
        self.fields
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    fn wrong_type(key: &str, expected: &str) -> GraphError {
        GraphError::invalid_model(format!("'{key}' must be {expected}"))
    }

    /// A string property: absent or `null` is `None`.
    pub(crate) fn opt_string(&self, key: &str) -> Result<Option<String>, GraphError> {
        match self.fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Self::wrong_type(key, "a string")),
        }
    }

    /// A required, non-empty string (display names) of at most [`MAX_NAME_CHARS`]
    /// [inf: empty names are refused].
    pub(crate) fn required_name(&self, key: &str) -> Result<String, GraphError> {
        match self.opt_string(key)? {
            Some(s) if s.chars().count() > MAX_NAME_CHARS => Err(GraphError::invalid_model(
                format!("'{key}' is longer than {MAX_NAME_CHARS} characters"),
            )),
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(GraphError::invalid_model(format!(
                "'{key}' must not be empty"
            ))),
            None => Err(GraphError::invalid_model(format!("'{key}' is required"))),
        }
    }

    /// A non-nullable boolean: `null` is a type error.
    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>, GraphError> {
        match self.fields.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Self::wrong_type(key, "true or false")),
        }
    }

    pub(crate) fn patch_bool(&self, key: &str) -> Result<Patch<bool>, GraphError> {
        Ok(self.opt_bool(key)?.map_or(Patch::Keep, Patch::Set))
    }

    /// A nullable string in a PATCH: absent keeps, `null` clears.
    pub(crate) fn patch_nullable_string(
        &self,
        key: &str,
    ) -> Result<Patch<Option<String>>, GraphError> {
        if !self.has(key) {
            return Ok(Patch::Keep);
        }
        self.opt_string(key).map(Patch::Set)
    }

    /// A required-when-present name in a PATCH.
    pub(crate) fn patch_name(&self, key: &str) -> Result<Patch<String>, GraphError> {
        if !self.has(key) {
            return Ok(Patch::Keep);
        }
        self.required_name(key).map(Patch::Set)
    }

    /// An enum given as a string in either casing.
    pub(crate) fn opt_enum<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, GraphError> {
        match self.opt_string(key)? {
            None if self.fields.get(key) == Some(&Value::Null) => {
                Err(Self::wrong_type(key, "one of the enumeration's values"))
            }
            None => Ok(None),
            Some(text) => parse(&text).map(Some).ok_or_else(|| {
                GraphError::invalid_model(format!("'{text}' is not a valid value for '{key}'"))
            }),
        }
    }

    /// A GUID-valued string; a non-GUID yields `Err` with `not_guid`.
    pub(crate) fn opt_guid(&self, key: &str) -> Result<Option<Result<Uuid, String>>, GraphError> {
        Ok(self
            .opt_string(key)?
            .map(|s| Uuid::parse_str(&s).map_err(|_| s)))
    }

    /// The `id` of a navigation object such as `"catalog": {"id": "…"}`.
    pub(crate) fn nested_id(&self, key: &str) -> Result<Option<Result<Uuid, String>>, GraphError> {
        match self.fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(inner)) => match inner.get("id") {
                Some(Value::String(s)) => Ok(Some(Uuid::parse_str(s).map_err(|_| s.clone()))),
                None | Some(Value::Null) => {
                    Err(GraphError::invalid_model(format!("'{key}.id' is required")))
                }
                Some(_) => Err(Self::wrong_type(&format!("{key}.id"), "a string")),
            },
            Some(_) => Err(Self::wrong_type(key, "an object")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reader(v: ApiVersion, body: Value) -> Result<BodyReader, GraphError> {
        let Value::Object(map) = body else {
            panic!("object")
        };
        BodyReader::new(map, v, &["displayName", "isHidden"])
    }

    #[test]
    fn strict_v1_lenient_beta_annotations_and_read_only_ignored() {
        let body = json!({"displayName": "x", "@odata.type": "#microsoft.graph.accessPackage", "id": "1", "createdDateTime": "z"});
        assert!(reader(ApiVersion::V1, body).is_ok());
        let unknown = json!({"displayName": "x", "colour": "red"});
        assert!(matches!(
            reader(ApiVersion::V1, unknown.clone()),
            Err(GraphError::InvalidModel { .. })
        ));
        let beta = reader(ApiVersion::Beta, unknown).unwrap();
        assert!(!beta.has("colour"));
    }

    #[test]
    fn types_are_checked() {
        let r = reader(
            ApiVersion::Beta,
            json!({"displayName": 5, "isHidden": null}),
        )
        .unwrap();
        assert!(r.required_name("displayName").is_err());
        assert!(r.opt_bool("isHidden").is_err());
    }
}
