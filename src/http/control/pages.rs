//! The console page (`GET /_emulator/`) and the control API's own OpenAPI description.

use super::*;

pub(super) const DASHBOARD_HTML: &str = include_str!("../dashboard.html");
pub(super) const OPENAPI_JSON: &str = include_str!("../control-openapi.json");

/// `GET /_emulator/`: a read-only page over the control API (tenants, catalogs, packages,
/// requests, assignments, journal, outbox). Its script renders everything as text.
pub(in crate::http) async fn dashboard() -> Response {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/html; charset=utf-8",
            ),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
            ),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        DASHBOARD_HTML,
    )
        .into_response()
}

/// `GET /_emulator/openapi.json`: the control API described as OpenAPI 3.1.
pub(in crate::http) async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI_JSON,
    )
        .into_response()
}
