//! Per-entity caches of rendered wire text, kept beside the entity so a mutable borrow can clear
//! them; what fills them (the query engine's rendering) is not the model's business.

use serde_json::Value;

/// A listing item's JSON text per API version, rendered on first use and reused until the
/// entity changes (the store clears it on every mutable borrow). A page of 100 packages is then
/// 100 copies instead of 100 maps built, annotated and serialized (docs/BENCHMARK.md).
#[derive(Debug, Clone, Default)]
pub struct ListingCache([std::sync::OnceLock<std::sync::Arc<str>>; 2]);

impl ListingCache {
    pub fn clear(&mut self) {
        *self = ListingCache::default();
    }

    /// The text for `version`, rendered by `render` the first time it is asked for.
    pub fn get_or_render(
        &self,
        version: crate::model::ApiVersion,
        render: impl FnOnce() -> Value,
    ) -> std::sync::Arc<str> {
        let slot = match version {
            crate::model::ApiVersion::V1 => &self.0[0],
            crate::model::ApiVersion::Beta => &self.0[1],
        };
        std::sync::Arc::clone(slot.get_or_init(|| render().to_string().into()))
    }
}
