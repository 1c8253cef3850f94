//! Each crate's integration suites are one test binary (`tests/main.rs` declares the suites as
//! modules, with `autotests = false`), so a suite file that `main.rs` does not name is never
//! compiled nor run, silently. This checks every crate's `tests/` folder.

use std::path::Path;

/// The folders of suites compiled as one binary, from the workspace root.
const SUITE_DIRS: [&str; 4] = [
    "hub/tests",
    "hub/store/tests",
    "ingest/tests",
    "tests/tests",
];

#[test]
fn every_suite_file_is_a_module_of_its_binary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root");
    let mut checked = 0;
    for dir in SUITE_DIRS {
        let dir = root.join(dir);
        let main = std::fs::read_to_string(dir.join("main.rs"))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join("main.rs").display()));
        let declared: Vec<&str> = main
            .lines()
            .filter_map(|l| l.trim().strip_prefix("mod ")?.strip_suffix(';'))
            .collect();
        for entry in std::fs::read_dir(&dir).expect("a suites folder") {
            let path = entry.expect("a folder entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let module = match name.strip_suffix(".rs") {
                Some("main") | None if path.is_file() => continue,
                Some(m) => m,
                // A folder is a module with files of its own (`common/mod.rs`).
                None if path.join("mod.rs").is_file() => name,
                None => continue,
            };
            assert!(
                declared.contains(&module),
                "{}: `mod {module};` is missing from {}; the suite is not compiled",
                path.display(),
                dir.join("main.rs").display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} suite files found");
}
