//! The request journal (filters, the cassette export, clearing) and the least-privilege report drawn from it.

use super::*;

/// `GET /_emulator/journal[?method=&path=&status=&tenant=&after=]`: the recorded exchanges that
/// match, oldest first, with their count — "was X called N times" is `count` — and how full
/// the journal is (`usage`: entries and bytes against its caps, and how many were evicted).
pub(in crate::http) async fn journal(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let mut filter = super::super::journal::Filter::default();
    let mut as_cassette = false;
    for (key, value) in form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        let bad = |what: &str| format!("'{value}' is not {what}");
        match key.as_ref() {
            "format" if value == "cassette" => as_cassette = true,
            "format" => {
                let message = format!("unknown format '{value}': the only other one is 'cassette'");
                return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
            }
            "method" => filter.method = Some(value.into_owned()),
            "path" => filter.path = Some(value.into_owned()),
            "status" => match value.parse() {
                Ok(s) => filter.status = Some(s),
                Err(_) => {
                    let message = bad("a status code");
                    return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
                }
            },
            "tenant" => match Uuid::parse_str(&value) {
                Ok(t) => filter.tenant = Some(t),
                Err(_) => {
                    let message = bad("a tenant id");
                    return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
                }
            },
            "after" => match value.parse() {
                Ok(a) => filter.after = Some(a),
                Err(_) => {
                    let message = bad("a sequence number");
                    return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
                }
            },
            other => {
                let message = format!(
                    "unknown filter '{other}': use method, path, status, tenant, after or format"
                );
                return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
            }
        }
    }
    let (count, value) = shared.journal.query(&filter);
    if as_cassette {
        // A passing run saved as a cassette, to diff or `verify` later. Credentials in bodies
        // and queries go as in a recording; ids, addresses and names stay, so the cassette
        // verifies against the same fixtures.
        let mut redactor =
            crate::cassette::redact::Redactor::new(crate::cassette::redact::PiiOptions {
                emails: false,
                people: false,
                remap_ids: false,
            });
        let cassette = crate::cassette::from_journal(&value, &mut redactor);
        return Json(cassette).into_response();
    }
    Json(json!({"count": count, "value": value, "usage": shared.journal.usage()})).into_response()
}

/// `DELETE /_emulator/journal`: forgets every exchange (sequence numbers keep counting).
pub(in crate::http) async fn clear_journal(State(shared): State<AppState>) -> Response {
    shared.journal.clear();
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /_emulator/least-privilege[?tenant=ID]`: for the calls in the journal that went
/// through, the smallest Graph permission and entitlement-management roles that would have
/// sufficed, computed offline from the operation table.
pub(in crate::http) async fn least_privilege(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let tenant = match tenant_param(query.as_deref()) {
        Ok(t) => t,
        Err(message) => return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    };
    let (calls, required) = shared.journal.requirements(tenant);
    let mut report = crate::authz::least_privilege(&required);
    report["calls"] = json!(calls);
    Json(report).into_response()
}
