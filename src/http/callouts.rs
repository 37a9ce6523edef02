//! Sends the custom-extension callouts the domain recorded for loopback endpoints, after the
//! Graph call that caused them has released the tenant lock (never across `.await`).

use std::sync::OnceLock;
use std::time::Duration;

use crate::store::Tenant;

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default()
    })
}

/// Takes the tenant's pending callouts and posts them, in order, on a spawned task: the
/// answer to the Graph call does not wait for the extension (the service calls it
/// asynchronously too). Failures are logged; the request's state is driven by `resume`.
pub(crate) fn dispatch(tenant: &Tenant) {
    if tenant.read(|s| s.pending_callouts.is_empty()) {
        return;
    }
    let pending = tenant.write(|s| std::mem::take(&mut s.pending_callouts));
    tokio::spawn(async move {
        for (url, body) in pending {
            match client().post(&url).json(&body).send().await {
                Ok(resp) => {
                    tracing::debug!(%url, status = %resp.status(), "custom extension called")
                }
                Err(e) => tracing::warn!(%url, "custom extension callout failed: {e}"),
            }
        }
    });
}
