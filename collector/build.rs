//! Embeds build-time assets: the enrichment rule sets (`make data` converts maintained npm
//! packages into `data/generated/*.json`) and the tracker snippet (`make snippet` builds
//! `../snippet/dist/*.js`).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let data = Path::new(&manifest).join("data/generated");
    println!("cargo:rerun-if-changed={}", data.display());
    for file in ["uap.json", "referers.json", "bots.json", "countries.json"] {
        println!("cargo:rerun-if-changed={}", data.join(file).display());
        if !data.join(file).is_file() {
            panic!(
                "missing {}: run `make data` (npm ci && node prepare.mjs in collector/data)",
                data.join(file).display()
            );
        }
    }

    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    // The snippet (`.js` files) and the dashboard (every file), as static tables of
    // (name, bytes). Empty when not built yet.
    embed(
        &Path::new(&manifest).join("../snippet/dist"),
        Some("js"),
        "SNIPPET_FILES",
        &Path::new(&out).join("snippet_files.rs"),
    );
    embed(
        &Path::new(&manifest).join("../dashboard/dist"),
        None,
        "DASHBOARD_FILES",
        &Path::new(&out).join("dashboard_files.rs"),
    );
}

fn embed(dist: &Path, extension: Option<&str>, name: &str, out: &Path) {
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut table = format!("pub static {name}: &[(&str, &[u8])] = &[\n");
    if let Ok(entries) = std::fs::read_dir(dist) {
        let mut files: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .filter(|p| extension.is_none_or(|x| p.extension().is_some_and(|e| e == x)))
            .collect();
        files.sort();
        for path in files {
            println!("cargo:rerun-if-changed={}", path.display());
            let file = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let _ = writeln!(
                table,
                "    ({file:?}, include_bytes!({:?})),",
                path.canonicalize()
                    .unwrap_or(path.clone())
                    .display()
                    .to_string()
            );
        }
    }
    table.push_str("];\n");
    std::fs::write(out, table).expect("write embedded file table");
}
