//! The layering rule of `docs/ARCHITECTURE.md`, checked on every `crate::…` and `super::…` path in
//! every file under `src/` — `use` trees, inline paths and paths inside macro calls alike — so the
//! layers stay true without anyone watching.
//!
//! Layers, lowest first; a module may use its own files and any lower layer, never a higher one,
//! and never a peer of the same layer — except in the core, whose parts are one unit, and in the
//! top layer, which assembles everything:
//! - 0 core: `error`, `clock`, `ids`, `model`, `store`, `files`, `sizes`;
//! - 1 engines: `odata`, `authz`, `auth` — each on the core only;
//! - 2 domain operations: `ops` — never HTTP;
//! - 3 assembly: `http`, `serve`, `tls`, `cassette`, `fixtures`, `emulator`, the crate root and the binary.
//!
//! Uses that break the rule today are listed in `KNOWN`, each with the file that makes it: the
//! route-table issue removes them one by one, and this test fails both on a new break and on a
//! listed one that has gone (so the list only shrinks).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::visit::Visit;

const LAYERS: &[(&str, u8)] = &[
    ("error", 0),
    ("clock", 0),
    ("ids", 0),
    ("model", 0),
    ("store", 0),
    ("files", 0),
    ("sizes", 0),
    ("odata", 1),
    ("authz", 1),
    ("auth", 1),
    ("ops", 2),
    ("http", 3),
    ("serve", 3),
    ("tls", 3),
    ("cassette", 3),
    ("fixtures", 3),
    ("emulator", 3),
    ("lib", 3),
    ("main", 3),
];

/// Uses that the rule forbids although the layers alone would allow them: the query engine gets
/// a context type, never a tenant's whole state.
const FORBIDDEN: &[(&str, &str)] = &[("odata", "store")];

/// (file, module it uses) pairs that break the rule today; the route-table issue (vertical slices
/// over a core that imports nothing above it) takes them out.
const KNOWN: &[(&str, &str)] = &[
    // Wire rendering and `Queryable` impls live in the model, not in their slices.
    ("src/model/queryable.rs", "authz"),
    ("src/model/queryable.rs", "odata"),
    ("src/model/queryable.rs", "ops"),
    // Evaluation reads `TenantState` directly.
    ("src/odata/eval.rs", "store"),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// Whether a module of `from` may use `to`.
fn allowed(from: &str, to: &str) -> bool {
    if from == to {
        return true;
    }
    if FORBIDDEN.contains(&(from, to)) {
        return false;
    }
    match (layer(from), layer(to)) {
        (Some(3), Some(_)) | (Some(0), Some(0)) => true,
        (Some(a), Some(b)) => b < a,
        _ => false,
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file: `src/http/batch.rs` → `[http, batch]`, `src/http/mod.rs` → `[http]`,
/// `src/lib.rs` → `[]` (named `lib` for the rule), `src/main.rs` → `[main]` (its own crate).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

struct Use {
    line: usize,
    /// The path's segments after resolving `crate`/`super`/`self`, from the crate root.
    target: Vec<String>,
}

struct Collector {
    /// The module the visitor is in (the file's, plus inline `mod x { … }` nesting).
    module: Vec<String>,
    uses: Vec<Use>,
    /// `#[cfg(test)] mod x;` declarations: test-only modules in files of their own.
    test_modules: Vec<Vec<String>>,
}

impl Collector {
    /// Resolves a path that starts with `crate`, `super` or `self`; others are external or local.
    fn resolve(&self, segments: &[String]) -> Option<Vec<String>> {
        let first = segments.first()?;
        let mut base: Vec<String> = match first.as_str() {
            "crate" => Vec::new(),
            "super" | "self" => self.module.clone(),
            _ => return None,
        };
        let mut rest = &segments[1..];
        if first == "super" {
            base.pop();
        }
        while rest.first().is_some_and(|s| s == "super") {
            base.pop();
            rest = &rest[1..];
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    fn record(&mut self, line: usize, segments: &[String]) {
        if let Some(target) = self.resolve(segments) {
            self.uses.push(Use { line, target });
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree, line: usize) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree, line);
                prefix.pop();
            }
            // `use a::{self, …}` names `a` itself.
            syn::UseTree::Name(n) if n.ident == "self" => self.record(line, &prefix.clone()),
            syn::UseTree::Name(n) => {
                prefix.push(n.ident.to_string());
                self.record(line, &prefix.clone());
                prefix.pop();
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                self.record(line, &prefix.clone());
                prefix.pop();
            }
            syn::UseTree::Glob(_) => self.record(line, &prefix.clone()),
            syn::UseTree::Group(g) => {
                for item in &g.items {
                    self.use_tree(prefix, item, line);
                }
            }
        }
    }

    /// `crate :: a :: b` (or `super :: …`) inside a macro's tokens, which syn leaves unparsed.
    fn tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < trees.len() {
            match &trees[i] {
                TokenTree::Group(g) => self.tokens(g.stream()),
                TokenTree::Ident(id) if id == "crate" || id == "super" => {
                    let line = id.span().start().line;
                    let mut segments = vec![id.to_string()];
                    let mut j = i + 1;
                    while j + 2 < trees.len() + 1 {
                        let (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b))) =
                            (trees.get(j), trees.get(j + 1))
                        else {
                            break;
                        };
                        if a.as_char() != ':' || b.as_char() != ':' {
                            break;
                        }
                        match trees.get(j + 2) {
                            Some(TokenTree::Ident(next)) => segments.push(next.to_string()),
                            _ => break,
                        }
                        j += 3;
                    }
                    if segments.len() > 1 {
                        self.record(line, &segments);
                    }
                    i = j.max(i + 1);
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let line = item.use_token.span.start().line;
        self.use_tree(&mut Vec::new(), &item.tree, line);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        if segments.len() > 1 {
            let line = path.segments[0].ident.span().start().line;
            self.record(line, &segments);
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.tokens(mac.tokens.clone());
        syn::visit::visit_macro(self, mac);
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        // Unit tests build whole tenants from fixtures to exercise a lower layer; they ship in
        // no build, so the rule is for the code under test, not for its set-up.
        let test_only = item.attrs.iter().any(|a| {
            a.path().is_ident("cfg") && a.meta.to_token_stream().to_string().contains("test")
        });
        if item.content.is_some() && !test_only {
            self.module.push(item.ident.to_string());
            syn::visit::visit_item_mod(self, item);
            self.module.pop();
        } else if item.content.is_none() && test_only {
            let mut path = self.module.clone();
            path.push(item.ident.to_string());
            self.test_modules.push(path);
        }
    }
}

#[test]
fn every_use_respects_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "src/ was read ({} files)", files.len());
    let mut breaks = Vec::new();
    let mut unclassified = BTreeSet::new();
    let mut seen_known = BTreeSet::new();
    let mut uses_seen = 0;
    let parsed: Vec<(PathBuf, syn::File)> = files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            (file.clone(), ast)
        })
        .collect();
    // Files that are `#[cfg(test)] mod x;` somewhere are test code, like inline test modules.
    let mut test_only: Vec<Vec<String>> = Vec::new();
    for (file, ast) in &parsed {
        let mut c = Collector {
            module: module_of(&src, file),
            uses: Vec::new(),
            test_modules: Vec::new(),
        };
        c.visit_file(ast);
        test_only.extend(c.test_modules);
    }
    for (file, ast) in &parsed {
        let module = module_of(&src, file);
        if test_only.iter().any(|t| module.starts_with(t)) {
            continue;
        }
        let from = module.first().cloned().unwrap_or_else(|| "lib".into());
        if layer(&from).is_none() {
            unclassified.insert(from.clone());
            continue;
        }
        let mut c = Collector {
            module: module.clone(),
            uses: Vec::new(),
            test_modules: Vec::new(),
        };
        c.visit_file(ast);
        let rel = file.strip_prefix(src.parent().unwrap()).unwrap();
        let rel = rel.to_string_lossy().replace('\\', "/");
        for u in c.uses {
            uses_seen += 1;
            let Some(to) = u.target.first() else { continue };
            if layer(to).is_none() {
                // `crate::SomeReexport` (the root's own items) or an unknown module.
                if to.chars().next().is_some_and(char::is_lowercase) {
                    unclassified.insert(to.clone());
                }
                continue;
            }
            if allowed(&from, to) {
                continue;
            }
            if KNOWN.iter().any(|(f, m)| *f == rel && m == to) {
                seen_known.insert((rel.clone(), to.clone()));
                continue;
            }
            breaks.push(format!(
                "{rel}:{}: `{}` — layer {} ({from}) may not use layer {} ({to})",
                u.line,
                u.target.join("::"),
                layer(&from).unwrap_or(9),
                layer(to).unwrap_or(9)
            ));
        }
    }
    assert!(uses_seen > 100, "paths were collected ({uses_seen})");
    assert!(
        unclassified.is_empty(),
        "modules with no layer in tests/architecture.rs: {unclassified:?}"
    );
    let gone: Vec<_> = KNOWN
        .iter()
        .filter(|(f, m)| !seen_known.contains(&(f.to_string(), m.to_string())))
        .collect();
    assert!(
        gone.is_empty(),
        "listed breaks that no longer happen (remove them from KNOWN): {gone:?}"
    );
    breaks.sort();
    breaks.dedup();
    assert!(
        breaks.is_empty(),
        "{} uses break the layering:\n{}",
        breaks.len(),
        breaks.join("\n")
    );
}

/// The scanner itself: a use tree, an inline path, a macro's path and `super` all count.
#[test]
fn the_scanner_sees_every_kind_of_path() {
    let text = r#"
        use crate::{store::Tenants, odata::{self, Query}};
        use super::super::http::envelope;
        fn f() { let _ = crate::ops::lifecycle::submit(); format!("{}", crate::authz::x()); }
        mod tests { use super::*; }
        #[cfg(test)]
        mod unit_tests;
    "#;
    let ast = syn::parse_file(text).unwrap();
    let mut c = Collector {
        module: vec!["model".into(), "em".into()],
        uses: Vec::new(),
        test_modules: Vec::new(),
    };
    c.visit_file(&ast);
    let targets: BTreeSet<String> = c.uses.iter().map(|u| u.target.join("::")).collect();
    for want in [
        "store::Tenants",
        "odata",
        "odata::Query",
        "http::envelope",
        "ops::lifecycle::submit",
        "authz::x",
        "model::em",
    ] {
        assert!(targets.contains(want), "{want} not in {targets:?}");
    }
    assert_eq!(c.test_modules, [vec!["model", "em", "unit_tests"]]);
    assert!(!allowed("odata", "authz") && !allowed("ops", "http") && allowed("http", "ops"));
}

/// The reference notes the project was built from live outside the repository, so a reader of
/// the code cannot follow a citation of them; comments and docs cite public Graph
/// documentation or the repository's own docs instead (issue 20).
const OUTSIDE_NOTES: &[&str] = &[
    "graph-protocol",
    "graph-em-api",
    "graph-em-examples",
    "graph-em-operations",
    "real-clients",
    "emulator-anchors",
    "performance-anchors",
    "style-examples",
    "../shared",
    "shared/reference",
];

/// Every file under `dir` but installed packages and build output.
fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() {
            if !matches!(name.as_ref(), "node_modules" | "target" | "__pycache__") {
                all_files(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

/// `line number: note` for each line of `text` that names one of `OUTSIDE_NOTES`.
fn outside_citations(text: &str) -> Vec<(usize, &'static str)> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.to_ascii_lowercase();
        for note in OUTSIDE_NOTES {
            if line.contains(note) {
                found.push((i + 1, *note));
            }
        }
    }
    found
}

#[test]
fn no_file_cites_notes_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let this = root.join("tests/architecture.rs");
    let mut files = vec![root.join("README.md")];
    for dir in ["src", "tests", "bench", "docs", "fixtures"] {
        all_files(&root.join(dir), &mut files);
    }
    files.retain(|f| *f != this);
    assert!(
        files.len() > 50,
        "the tree was read ({} files)",
        files.len()
    );
    let mut cited = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let rel = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        for (line, note) in outside_citations(&text) {
            cited.push(format!("{rel}:{line}: names `{note}`"));
        }
    }
    assert!(
        cited.is_empty(),
        "{} lines cite reference notes that are not in the repository (cite the public \
         learn.microsoft.com page, the GitHub issue, or docs/*.md instead):\n{}",
        cited.len(),
        cited.join("\n")
    );
}

/// The matcher itself: a note's name in any casing, with or without its extension, and the
/// path to the notes, each reported with its line; ordinary text is not.
#[test]
fn the_citation_check_sees_every_form() {
    let text = "fine\n// see Graph-Protocol.md §5.3\n/// (`graph-em-examples.md` A2.1)\n\
                # versions from real-clients\nread ../shared/README.md\nhttps://learn.microsoft.com/graph/errors\n";
    assert_eq!(
        outside_citations(text),
        vec![
            (2, "graph-protocol"),
            (3, "graph-em-examples"),
            (4, "real-clients"),
            (5, "../shared"),
        ]
    );
}
