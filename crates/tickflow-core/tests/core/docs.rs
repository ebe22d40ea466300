//! ARCHITECTURE.md stays true to the tree: every file or folder it names exists.

use std::path::{Path, PathBuf};

const FILE_ENDINGS: [&str; 10] = [".rs", ".py", ".sh", ".sql", ".yml", ".json", ".toml", ".csv", ".md", ".xml"];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository")
}

/// Every file and folder of the repository, relative to its root, folders ending in `/`.
fn tree(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("readable").flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if [".git", "target", ".tickflow", "node_modules", "__pycache__"].contains(&name.as_str()) {
                continue;
            }
            let relative = path.strip_prefix(root).expect("inside").to_string_lossy().into_owned();
            if path.is_dir() {
                found.push(format!("{relative}/"));
                folders.push(path);
            } else {
                found.push(relative);
            }
        }
    }
    found
}

/// The backquoted names in `text` that look like a path in the repository.
fn named_paths(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (n, quoted) in text.split('`').enumerate() {
        let looks_like_a_path = n % 2 == 1
            && !quoted.is_empty()
            && quoted.chars().all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
            && !quoted.starts_with('.')
            && !quoted.starts_with('_')
            && !quoted.starts_with('/')
            && (quoted.contains('/') || FILE_ENDINGS.iter().any(|e| quoted.ends_with(e)));
        if looks_like_a_path {
            names.push(quoted.to_owned());
        }
    }
    names
}

#[test]
fn every_path_the_architecture_names_exists() {
    let root = repository();
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let tree = tree(&root);
    let names = named_paths(&text);
    assert!(names.len() > 50, "the map was read: {names:?}");
    let missing: Vec<&String> = names
        .iter()
        .filter(|name| {
            let as_folder = format!("{}/", name.trim_end_matches('/'));
            let candidates = [name.to_string(), as_folder];
            !tree.iter().any(|path| candidates.iter().any(|c| path == c || path.ends_with(&format!("/{c}"))))
        })
        .collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md names paths that do not exist: {missing:?}");
}
