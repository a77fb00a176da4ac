//! The direction of dependencies between the crate's top-level modules: every `crate::` (and
//! `super::` reaching the crate root) path in `collector/src`, comments and strings left out,
//! must point to a module on a lower layer. A new module has to be placed in `LAYERS` before
//! it can be used, and an import that goes up or sideways — the start of a cycle — fails here
//! with the file that made it. `docs/architecture.md` explains the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first. A module may use modules of lower layers only. `migrations` (the store's
/// schema) sits above the modules whose rows it creates tables for.
const LAYERS: &[&[&str]] = &[
    &["clock", "path_pattern", "site_domain", "metrics"],
    &["config"],
    &["store"],
    &["sites", "privacy", "enrich", "imports"],
    &["ingest"],
    &["pipeline", "reports", "leads", "auth", "analyst", "mail"],
    &["migrations", "http", "cli"],
    &["client", "serve"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a Rust file with comments, strings and char literals blanked out.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                out.push(' ');
            }
            b'r' if matches!(b.get(i + 1), Some(b'"') | Some(b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                i += 2 + hashes;
                while i < b.len() && !b[i..].starts_with(&close) {
                    i += 1;
                }
                i += close.len();
                out.push_str("\"\"");
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            b'\'' => {
                // A char literal ('x', '\n', '\'', '\u{..}') or a lifetime ('a).
                let rest = &src[i + 1..];
                let len = if rest.starts_with('\\') {
                    rest.find('\'').map(|p| if p == 1 { 3 } else { p + 1 })
                } else {
                    rest.chars()
                        .next()
                        .filter(|c| rest[c.len_utf8()..].starts_with('\''))
                        .map(|c| c.len_utf8() + 1)
                };
                match len {
                    Some(n) => {
                        i += 1 + n;
                        out.push_str("' '");
                    }
                    None => {
                        out.push('\'');
                        i += 1;
                    }
                }
            }
            _ => {
                let ch = src[i..].chars().next().unwrap();
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

/// Top-level modules a file's code names: `crate::x`, `crate::{x, y::z}`, and `super::x` where
/// `super` is the crate root.
fn used_modules(code: &str, depth_below_root: usize) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let root_prefixes: Vec<String> = std::iter::once("crate::".to_string())
        .chain((depth_below_root > 0).then(|| "super::".repeat(depth_below_root)))
        .collect();
    for prefix in &root_prefixes {
        let mut from = 0;
        while let Some(at) = code[from..].find(prefix.as_str()) {
            let start = from + at;
            from = start + prefix.len();
            // `super::super::x` must not count as `super::x` at depth 1.
            if prefix.starts_with("super") && code[..start].ends_with("super::") {
                continue;
            }
            let rest = code[from..].trim_start();
            if prefix.starts_with("super") && rest.starts_with("super::") {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                // A `use` group: the first name of each top-level item.
                let mut depth = 0;
                let mut item_start = true;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if item_start && !c.is_whitespace() => {
                            item_start = false;
                            let name = ident(&group[i..]);
                            if !name.is_empty() && name != "self" {
                                found.insert(name);
                            }
                        }
                        _ => {}
                    }
                }
            } else {
                let name = ident(rest);
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        }
    }
    found
}

#[test]
fn modules_depend_only_on_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    // The crate's top-level modules: a `super::` path counts only when it names one (inside an
    // inline `mod tests`, `super::` is the file's own module).
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|f| f.strip_prefix(&src).ok()?.iter().next())
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    let mut edges: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut unplaced = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
            continue;
        }
        let module = parts[0].clone();
        if layer(&module).is_none() {
            unplaced.insert(module.clone());
        }
        // How many `super::` reach the crate root from this file.
        let depth = match parts.last().map(String::as_str) {
            Some("mod") => parts.len() - 1,
            _ => parts.len(),
        };
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        for used in used_modules(&code, depth) {
            if used != module && modules.contains(&used) {
                edges
                    .entry((module.clone(), used))
                    .or_default()
                    .push(rel.display().to_string());
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "modules missing from LAYERS in tests/dependencies.rs: {unplaced:?}"
    );
    let mut graph = String::new();
    let mut wrong = Vec::new();
    for ((from, to), files) in &edges {
        graph.push_str(&format!("{from} -> {to}\n"));
        match (layer(from), layer(to)) {
            (Some(a), Some(b)) if b < a => {}
            _ => wrong.push(format!(
                "{from} (layer {:?}) -> {to} (layer {:?}) in {}",
                layer(from),
                layer(to),
                files.join(", ")
            )),
        }
    }
    eprintln!("module dependencies:\n{graph}");
    assert!(
        wrong.is_empty(),
        "imports that go up or sideways (a cycle in the making):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_scanner_reads_paths_not_comments_or_strings() {
    let code = code_only(
        "use crate::{config::{A, B}, store};\n// crate::leads\n/* crate::http */\nlet s = \"crate::serve\"; let c = '\"'; fn f<'a>(x: &'a str) { crate::sites::f(x); super::clock::now(); }",
    );
    let used = used_modules(&code, 1);
    let want: BTreeSet<String> = ["config", "store", "sites", "clock"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(used, want);
    assert!(used_modules("super::super::x", 1).is_empty());
    assert_eq!(
        used_modules("super::super::x", 2),
        ["x".to_string()].into_iter().collect()
    );
}
