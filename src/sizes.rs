//! Approximate heap sizes of what the emulator keeps between requests, for the byte caps of the
//! request journal, the outbox and the token cache. Sizes come from lengths already at hand,
//! never from serializing: the journal is written on every request.

use serde_json::Value;

/// What one member of a JSON object costs beyond its key's text and its value: the map's
/// entry (hash, key `String`, value) and its index slot (`preserve_order` is an `IndexMap`).
const MAP_ENTRY_OVERHEAD: usize =
    std::mem::size_of::<String>() + std::mem::size_of::<Value>() + 2 * std::mem::size_of::<u64>();

/// The bytes a JSON value holds: every node, string and key. Walked with an explicit stack,
/// not by recursion, so no value's depth can exhaust the thread's stack.
pub fn value_bytes(value: &Value) -> usize {
    let mut total = 0;
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        total += std::mem::size_of::<Value>();
        match v {
            Value::String(s) => total += s.len(),
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => {
                for (key, member) in map {
                    total += key.len() + MAP_ENTRY_OVERHEAD;
                    stack.push(member);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_value_costs_at_least_its_text_and_nesting_needs_no_recursion() {
        let text = "x".repeat(10_000);
        let small = value_bytes(&json!({"a": 1}));
        assert!(value_bytes(&json!({"rule": text})) >= 10_000 + small);
        assert!(value_bytes(&json!([text, text])) >= 20_000);
        // 100,000 levels deep: a recursive walk would overflow the test thread's stack.
        let mut deep = Value::Null;
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        assert_eq!(value_bytes(&deep), 100_001 * std::mem::size_of::<Value>());
        // Dropping it would recurse too (serde_json's own drop); leak it instead.
        std::mem::forget(deep);
    }
}
