//! The module layering of `src/` (the "Layout" comment in `src/lib.rs`): each module
//! uses only modules of lower layers. The layers are parsed from that comment, so the
//! diagram and the check cannot drift apart; every `mod` of `lib.rs` must have a layer.
//!
//! What counts as a use: a `crate::m` path in code (comments and doc comments are
//! skipped, so intra-doc links such as `[Context](crate::Context)` do not count), where
//! `m` is a module or a name `lib.rs` re-exports from `m` (`crate::Context` is a use of
//! `context`). Grouped `crate::{..}` paths and top-level `use super::` are refused so
//! that nothing slips past this simple scan.
//!
//! Plain text processing: nothing for Miri or loom to check, so not built under them.
#![cfg(not(any(miri, loom)))]

use std::collections::BTreeMap;

/// The source of every module, by name. A module missing here fails
/// `every_module_has_a_layer_and_a_source`.
const SOURCES: &[(&str, &str)] = &[
    ("cancel", include_str!("../src/cancel.rs")),
    ("context", include_str!("../src/context.rs")),
    ("done", include_str!("../src/done.rs")),
    ("error", include_str!("../src/error.rs")),
    ("hook", include_str!("../src/hook.rs")),
    ("key", include_str!("../src/key.rs")),
    ("node", include_str!("../src/node.rs")),
    ("slab", include_str!("../src/slab.rs")),
    ("timer", include_str!("../src/timer.rs")),
    ("tree", include_str!("../src/tree.rs")),
];

const LIB: &str = include_str!("../src/lib.rs");

/// Module name -> layer, from lines of the form `//   N  a, b, c: description`.
fn layers(lib: &str) -> BTreeMap<String, u32> {
    let mut layers = BTreeMap::new();
    for line in lib.lines() {
        let Some(rest) = line.strip_prefix("//") else {
            continue;
        };
        let rest = rest.trim_start();
        if rest.starts_with("//") || rest.starts_with('!') {
            continue; // a doc comment, not the layout comment
        }
        let Some((n, rest)) = rest.split_once(char::is_whitespace) else {
            continue;
        };
        let Ok(n) = n.parse::<u32>() else { continue };
        let (names, _) = rest
            .split_once(':')
            .unwrap_or_else(|| panic!("layer line without `:`: {line}"));
        for name in names.split(',') {
            let name = name.trim().to_string();
            assert!(
                layers.insert(name.clone(), n).is_none(),
                "{name} is in two layers"
            );
        }
    }
    layers
}

/// Name -> module, for every name `lib.rs` re-exports (`pub use m::{A, B};`).
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut rest = lib;
    while let Some(i) = rest.find("\npub use ") {
        rest = &rest[i + "\npub use ".len()..];
        let end = rest.find(';').expect("a `pub use` ends with `;`");
        let (module, names) = rest[..end].split_once("::").expect("pub use m::...");
        let names = names.trim().trim_start_matches('{').trim_end_matches('}');
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            map.insert(name.to_string(), module.trim().to_string());
        }
    }
    map
}

/// The modules `lib.rs` declares (`mod m;`).
fn declared(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|l| l.strip_prefix("mod ")?.strip_suffix(';'))
        .map(str::to_string)
        .collect()
}

/// The violations of the layering in `source`, the file of module `me`.
fn violations(
    me: &str,
    source: &str,
    layers: &BTreeMap<String, u32>,
    reexports: &BTreeMap<String, String>,
) -> Vec<String> {
    let my_layer = layers[me];
    let mut found = Vec::new();
    for (i, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        if line.starts_with("use super::") || line.starts_with("pub(crate) use super::") {
            found.push(format!("{me}.rs:{}: top-level `use super::`", i + 1));
        }
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if rest.starts_with('{') {
                found.push(format!("{me}.rs:{}: grouped `crate::{{..}}` path", i + 1));
                continue;
            }
            let ident: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let target = if layers.contains_key(&ident) {
                ident.clone()
            } else if let Some(m) = reexports.get(&ident) {
                m.clone()
            } else {
                continue; // e.g. a `#[doc(hidden)]` item of lib.rs itself
            };
            if target != me && layers[&target] >= my_layer {
                found.push(format!(
                    "{me}.rs:{}: layer {my_layer} `{me}` uses `crate::{ident}` (layer {} `{target}`)",
                    i + 1,
                    layers[&target]
                ));
            }
        }
    }
    found
}

#[test]
fn every_module_has_a_layer_and_a_source() {
    let layers = layers(LIB);
    let mut declared = declared(LIB);
    declared.sort();
    let in_layers: Vec<_> = layers.keys().cloned().collect();
    let sources: Vec<_> = SOURCES.iter().map(|(m, _)| m.to_string()).collect();
    assert_eq!(
        declared, in_layers,
        "`mod`s of lib.rs vs the layout comment"
    );
    assert_eq!(
        declared, sources,
        "`mod`s of lib.rs vs SOURCES in this test"
    );
}

#[test]
fn modules_use_only_lower_layers() {
    let (layers, reexports) = (layers(LIB), reexports(LIB));
    assert!(reexports.get("Context").is_some_and(|m| m == "context"));
    let found: Vec<_> = SOURCES
        .iter()
        .flat_map(|(m, src)| violations(m, src, &layers, &reexports))
        .collect();
    assert!(
        found.is_empty(),
        "layering violations:\n{}",
        found.join("\n")
    );
}

/// The check itself can fail: the imports that made the old cycle are caught.
#[test]
fn the_check_catches_upward_uses() {
    let (layers, reexports) = (layers(LIB), reexports(LIB));
    let check = |me: &str, src: &str| violations(me, src, &layers, &reexports).len();
    assert_eq!(check("tree", "use crate::context::Context;\n"), 1);
    assert_eq!(check("tree", "use crate::timer::TimerHandle;\n"), 1);
    assert_eq!(check("tree", "    let c: crate::Context = x;\n"), 1); // via a re-export
    assert_eq!(check("timer", "use crate::node::Node;\n"), 1);
    assert_eq!(check("context", "use crate::done::Done;\n"), 1);
    assert_eq!(check("done", "use crate::hook::OnCancel;\n"), 1); // same layer
    assert_eq!(check("tree", "use crate::{error, context};\n"), 1);
    assert_eq!(check("tree", "use super::context::Context;\n"), 1);
    // Allowed: downward uses, and doc links.
    assert_eq!(check("tree", "use crate::error::{Cause, Error};\n"), 0);
    assert_eq!(check("tree", "/// [`Context`](crate::Context)\n"), 0);
    assert_eq!(
        check("done", "use crate::context::Context; // the handle\n"),
        0
    );
}
