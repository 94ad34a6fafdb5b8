//! The project's documents speak of the project itself: no file points at a document the
//! repository does not hold. The KPIs, the export and the rules are explained in
//! `docs/kpis.md`, `docs/export.md` and `docs/rules.md`; code, SQL, templates and tests
//! point there.

use std::path::{Path, PathBuf};

/// Every file of the repository's own tree (not the build output, not git's own files).
fn repository_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | ".git" | "node_modules") {
                repository_files(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

#[test]
fn no_file_cites_a_document_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    repository_files(root, &mut files);
    assert!(files.iter().any(|f| f.ends_with("docs/kpis.md")), "the walk reached docs/");
    // Spelled in pieces, so this file does not match itself.
    let outside = [["SPEC", " §"].concat(), ["SPEC", ".md"].concat()];
    let mut found = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else { continue }; // binary files
        for (n, line) in text.lines().enumerate() {
            if outside.iter().any(|o| line.contains(o.as_str())) {
                found.push(format!("{}:{}: {line}", file.strip_prefix(root).unwrap().display(), n + 1));
            }
        }
    }
    assert!(found.is_empty(), "cite docs/kpis.md, docs/export.md or docs/rules.md instead:\n{}", found.join("\n"));
}

#[test]
fn the_kpi_document_defines_every_kpi() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/kpis.md")).unwrap();
    for definition in cwkpi::kpi::DEFINITIONS {
        assert!(text.contains(&format!("`{}`", definition.id)), "docs/kpis.md does not define {}", definition.id);
        assert!(text.contains(definition.label_da), "docs/kpis.md lacks the label {}", definition.label_da);
    }
}
