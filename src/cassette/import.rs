//! Import: a cassette's catalogs and access packages as a fixture directory, so a real tenant's
//! shape becomes a reproducible seed. The cassette is redacted first (ids remapped, PII and
//! secrets replaced) unless it already was; the rest of the fixture — directory, personas,
//! policies — comes from a base fixture so tokens and personas keep working.
//!
//! What is imported is the last state the cassette shows: an object read or created later wins
//! over an earlier answer, and one the cassette deletes (2xx on `DELETE`) is left out.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::redact::{PiiOptions, Redactor};
use super::{Cassette, Interaction};

/// The fixture files to write and what the import could not place.
#[derive(Debug, Default)]
pub struct Imported {
    pub files: Vec<(String, String)>,
    pub catalogs: usize,
    pub access_packages: usize,
    pub policies: usize,
    pub notes: Vec<String>,
}

#[derive(Default)]
struct Found {
    /// By id, in first-seen order (`BTreeMap` by sequence keeps the output stable).
    catalogs: BTreeMap<String, (usize, Map<String, Value>)>,
    packages: BTreeMap<String, (usize, Map<String, Value>)>,
    policies: BTreeMap<String, (usize, Map<String, Value>)>,
    deleted: Vec<String>,
    seen: usize,
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.to_ascii_lowercase())
        .collect()
}

impl Found {
    fn put(
        map: &mut BTreeMap<String, (usize, Map<String, Value>)>,
        seen: &mut usize,
        object: &Map<String, Value>,
    ) {
        let Some(id) = object.get("id").and_then(Value::as_str) else {
            return;
        };
        *seen += 1;
        let order = map.get(id).map_or(*seen, |(o, _)| *o);
        let mut merged = map.get(id).map(|(_, m)| m.clone()).unwrap_or_default();
        for (k, v) in object {
            merged.insert(k.clone(), v.clone());
        }
        map.insert(id.to_string(), (order, merged));
    }

    fn catalog(&mut self, object: &Map<String, Value>) {
        Self::put(&mut self.catalogs, &mut self.seen, object);
    }

    fn package(&mut self, object: &Map<String, Value>, catalog_from_path: Option<&str>) {
        let mut object = object.clone();
        // v1.0 names the catalog only when expanded; beta says `catalogId`.
        let catalog = object
            .get("catalogId")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                object
                    .get("catalog")
                    .and_then(|c| c["id"].as_str())
                    .map(str::to_string)
            })
            .or(catalog_from_path.map(str::to_string));
        if let Some(c) = object.get("catalog").and_then(Value::as_object).cloned() {
            self.catalog(&c);
        }
        if let Some(c) = catalog {
            object.insert("catalogId".into(), json!(c));
        }
        Self::put(&mut self.packages, &mut self.seen, &object);
    }

    fn interaction(&mut self, i: &Interaction) {
        let segs = segments(&i.request.path);
        let ok = (200..300).contains(&i.response.status);
        if !ok {
            return;
        }
        let Some(em) = segs.iter().position(|s| s == "entitlementmanagement") else {
            return;
        };
        let rest = &segs[em + 1..];
        if i.request.method.eq_ignore_ascii_case("DELETE") {
            if let Some(id) = rest.get(1) {
                self.deleted.push(id.clone());
            }
            return;
        }
        let items: Vec<&Map<String, Value>> = match &i.response.body {
            Value::Object(o) => match o.get("value").and_then(Value::as_array) {
                Some(list) => list.iter().filter_map(Value::as_object).collect(),
                None => vec![o],
            },
            _ => Vec::new(),
        };
        match rest {
            [set, ..]
                if (set == "catalogs" || set == "accesspackagecatalogs") && rest.len() <= 2 =>
            {
                items.iter().for_each(|o| self.catalog(o));
            }
            [set, catalog, sub, ..]
                if (set == "catalogs" || set == "accesspackagecatalogs")
                    && sub == "accesspackages" =>
            {
                let catalog = catalog.clone();
                items.iter().for_each(|o| self.package(o, Some(&catalog)));
            }
            [set, ..] if set == "accesspackages" && rest.len() <= 2 => {
                items.iter().for_each(|o| self.package(o, None));
            }
            // v1.0 policies; the package comes from the body (expanded, or the POST that
            // created it).
            [set, ..] if set == "assignmentpolicies" && rest.len() <= 2 => {
                let sent_package = i.request.body["accessPackage"]["id"]
                    .as_str()
                    .map(str::to_string);
                for o in items {
                    let mut o = o.clone();
                    if !o.get("accessPackage").is_some_and(|p| p["id"].is_string()) {
                        if let Some(p) = &sent_package {
                            o.insert("accessPackage".into(), json!({"id": p}));
                        }
                    }
                    Self::put(&mut self.policies, &mut self.seen, &o);
                }
            }
            _ => {}
        }
    }
}

/// Reads what the cassette shows into fixture files over `base` (name → text of each file).
pub fn to_fixture(
    cassette: &Cassette,
    base: &[(String, String)],
    redact: bool,
) -> Result<Imported, String> {
    let mut cassette = cassette.clone();
    if redact {
        let mut redactor = Redactor::new(PiiOptions::default());
        for i in &mut cassette.interactions {
            redactor.interaction(i);
        }
    }
    let mut found = Found::default();
    for i in &cassette.interactions {
        found.interaction(i);
    }
    let mut imported = Imported::default();
    let base_json = |name: &str| -> Result<Vec<Value>, String> {
        match base.iter().find(|(n, _)| n == name) {
            Some((_, text)) => serde_json::from_str(text).map_err(|e| format!("base {name}: {e}")),
            None => Ok(Vec::new()),
        }
    };
    let deleted = |id: &str| found.deleted.iter().any(|d| d.eq_ignore_ascii_case(id));
    let mut catalogs = base_json("catalogs.json")?;
    // The recorded General catalog is the base's General catalog: its packages move there, so
    // the base's own packages, roles and policies keep their catalog.
    let base_general = catalogs
        .iter()
        .find(|b| {
            b["catalogType"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("serviceDefault"))
        })
        .and_then(|b| b["id"].as_str())
        .map(str::to_string);
    let mut general_alias: Option<String> = None;
    let mut ordered: Vec<&(usize, Map<String, Value>)> = found.catalogs.values().collect();
    ordered.sort_by_key(|(o, _)| *o);
    for (_, c) in ordered {
        let id = c["id"].as_str().unwrap_or_default();
        if deleted(id) {
            continue;
        }
        let kind = c
            .get("catalogType")
            .and_then(Value::as_str)
            .unwrap_or("userManaged")
            .to_string();
        if kind.eq_ignore_ascii_case("serviceDefault") && base_general.is_some() {
            general_alias = Some(id.to_ascii_lowercase());
            continue;
        }
        let state = c
            .get("state")
            .or_else(|| c.get("catalogStatus"))
            .and_then(Value::as_str)
            .unwrap_or("published");
        let mut out = Map::new();
        out.insert("id".into(), json!(id));
        out.insert(
            "displayName".into(),
            c.get("displayName")
                .cloned()
                .unwrap_or(json!("Imported catalog")),
        );
        if let Some(d) = c.get("description").filter(|d| d.is_string()) {
            out.insert("description".into(), d.clone());
        }
        out.insert("catalogType".into(), json!(kind));
        out.insert("state".into(), json!(state));
        if let Some(v) = c.get("isExternallyVisible").filter(|v| v.is_boolean()) {
            out.insert("isExternallyVisible".into(), v.clone());
        }
        for k in ["createdDateTime", "modifiedDateTime", "createdBy"] {
            if let Some(v) = c.get(k).filter(|v| v.is_string()) {
                out.insert(k.into(), v.clone());
            }
        }
        catalogs.retain(|b| b["id"].as_str() != Some(id));
        catalogs.push(Value::Object(out));
        imported.catalogs += 1;
    }
    let known: Vec<String> = catalogs
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_ascii_lowercase))
        .collect();
    let mut packages = base_json("accessPackages.json")?;
    let mut ordered: Vec<&(usize, Map<String, Value>)> = found.packages.values().collect();
    ordered.sort_by_key(|(o, _)| *o);
    for (_, p) in ordered {
        let id = p["id"].as_str().unwrap_or_default();
        if deleted(id) {
            continue;
        }
        let recorded_catalog = p.get("catalogId").and_then(Value::as_str);
        let catalog = match (recorded_catalog, &general_alias, &base_general) {
            (Some(c), Some(alias), Some(general)) if c.eq_ignore_ascii_case(alias) => {
                Some(general.as_str())
            }
            (c, _, _) => c,
        };
        let Some(catalog) = catalog else {
            imported.notes.push(format!(
                "access package {id}: the cassette never shows its catalog (v1.0 names it only with $expand=catalog); left out"
            ));
            continue;
        };
        if !known.contains(&catalog.to_ascii_lowercase()) {
            imported.notes.push(format!(
                "access package {id}: its catalog {catalog} is not in the cassette; left out"
            ));
            continue;
        }
        let mut out = Map::new();
        out.insert("id".into(), json!(id));
        out.insert("catalogId".into(), json!(catalog));
        out.insert(
            "displayName".into(),
            p.get("displayName")
                .cloned()
                .unwrap_or(json!("Imported package")),
        );
        for k in [
            "description",
            "createdDateTime",
            "modifiedDateTime",
            "createdBy",
        ] {
            if let Some(v) = p.get(k).filter(|v| v.is_string()) {
                out.insert(k.into(), v.clone());
            }
        }
        for k in ["isHidden", "isRoleScopesVisible"] {
            if let Some(v) = p.get(k).filter(|v| v.is_boolean()) {
                out.insert(k.into(), v.clone());
            }
        }
        packages.retain(|b| b["id"].as_str() != Some(id));
        packages.push(Value::Object(out));
        imported.access_packages += 1;
    }
    // Policies keep the writable v1.0 properties the fixture format takes; one the fixture
    // loader refuses (an approver the base directory lacks, say) is left out with its reason.
    const POLICY_FIELDS: [&str; 9] = [
        "displayName",
        "description",
        "allowedTargetScope",
        "specificAllowedTargets",
        "expiration",
        "requestorSettings",
        "requestApprovalSettings",
        "automaticRequestSettings",
        "questions",
    ];
    let package_ids: Vec<String> = packages
        .iter()
        .filter_map(|p| p["id"].as_str().map(str::to_ascii_lowercase))
        .collect();
    let mut policies = base_json("assignmentPolicies.json")?;
    let base_policy_count = policies.len();
    let mut ordered: Vec<&(usize, Map<String, Value>)> = found.policies.values().collect();
    ordered.sort_by_key(|(o, _)| *o);
    for (_, p) in ordered {
        let id = p["id"].as_str().unwrap_or_default();
        if deleted(id) {
            continue;
        }
        let Some(package) = p["accessPackage"]["id"].as_str() else {
            imported.notes.push(format!(
                "policy {id}: the cassette never shows its access package (v1.0 names it only with $expand=accessPackage); left out"
            ));
            continue;
        };
        if !package_ids.contains(&package.to_ascii_lowercase()) {
            imported.notes.push(format!(
                "policy {id}: its access package {package} was not imported; left out"
            ));
            continue;
        }
        let mut out = Map::new();
        out.insert("id".into(), json!(id));
        out.insert("accessPackage".into(), json!({"id": package}));
        for k in POLICY_FIELDS {
            if let Some(v) = p.get(k).filter(|v| !v.is_null()) {
                out.insert(k.into(), v.clone());
            }
        }
        policies.push(Value::Object(out));
    }
    let pretty = |v: &Vec<Value>| {
        serde_json::to_string_pretty(v)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string())
    };
    let mut texts: BTreeMap<String, String> = base.iter().cloned().collect();
    texts.insert("catalogs.json".into(), pretty(&catalogs)?);
    texts.insert("accessPackages.json".into(), pretty(&packages)?);
    loop {
        texts.insert("assignmentPolicies.json".into(), pretty(&policies)?);
        match crate::fixtures::FixtureTenant::parse("imported", |name| Ok(texts.get(name).cloned()))
        {
            Ok(_) => break,
            Err(e) if e.file.ends_with("assignmentPolicies.json") => {
                let index = e
                    .pointer
                    .trim_start_matches('/')
                    .split('/')
                    .next()
                    .and_then(|i| i.parse::<usize>().ok())
                    .filter(|i| *i >= base_policy_count && *i < policies.len());
                let Some(index) = index else {
                    return Err(format!("the imported fixture does not load: {e}"));
                };
                let dropped = policies.remove(index);
                imported.notes.push(format!(
                    "policy {}: {}; left out",
                    dropped["id"].as_str().unwrap_or("?"),
                    e.message
                ));
            }
            Err(e) => return Err(format!("the imported fixture does not load: {e}")),
        }
    }
    imported.policies = policies.len() - base_policy_count;
    imported.files = texts.into_iter().collect();
    Ok(imported)
}
