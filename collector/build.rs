//! Embeds build-time assets: the enrichment rule sets (`make data` converts maintained npm
//! packages into `data/generated/*.json`) and the tracker snippet (`make snippet` builds
//! `../snippet/dist/*.js`).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let data = Path::new(&manifest).join("data/generated");
    println!("cargo:rerun-if-changed={}", data.display());
    for file in ["uap.json", "referers.json", "bots.json"] {
        println!("cargo:rerun-if-changed={}", data.join(file).display());
        if !data.join(file).is_file() {
            panic!(
                "missing {}: run `make data` (npm ci && node prepare.mjs in collector/data)",
                data.join(file).display()
            );
        }
    }

    // The snippet files, as a static table of (name, bytes). Empty when not built yet.
    let dist = Path::new(&manifest).join("../snippet/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut table = String::from("pub static SNIPPET_FILES: &[(&str, &[u8])] = &[\n");
    if let Ok(entries) = std::fs::read_dir(&dist) {
        let mut files: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "js"))
            .collect();
        files.sort();
        for path in files {
            println!("cargo:rerun-if-changed={}", path.display());
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let _ = writeln!(
                table,
                "    ({name:?}, include_bytes!({:?})),",
                path.canonicalize()
                    .unwrap_or(path.clone())
                    .display()
                    .to_string()
            );
        }
    }
    table.push_str("];\n");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&out).join("snippet_files.rs"), table).expect("write snippet table");
}
