//! Generates the pattern modules from the very Markdown the App posts
//! (`rules/fixes/*.md`), so the code users read and the code we test are one text.
//!
//! For each `<name>.md`, with the fences as rustdoc reads them:
//! - `<name>.rs`: every ```rust block, in order: the pattern itself;
//! - `<name>_naive.rs`: the ```rust blocks without an `impl Drop`, followed by the
//!   ```rust should_panic blocks: the same types with the "do not" Drop instead.
//! - `blocks.txt`: `<name> <rust blocks> <should_panic blocks>` per pattern, printed by
//!   the harness so the Python side can check that both extractors agree.
//!
//! `DROPSAFE_FIXES_DIR` overrides the Markdown folder (the mutation tests use a copy).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

const PATTERNS: [&str; 2] = ["safe_drop", "temp_file_guard"];

/// The fenced blocks of `markdown` whose info string is exactly `info`.
fn blocks<'a>(markdown: &'a str, info: &str) -> Vec<Vec<&'a str>> {
    let mut found = Vec::new();
    let mut current: Option<(bool, Vec<&str>)> = None;
    for line in markdown.lines() {
        match current.take() {
            None => {
                if let Some(rest) = line.trim_start().strip_prefix("```") {
                    current = Some((rest.trim() == info, Vec::new()));
                }
            }
            Some((wanted, body)) if line.trim() == "```" => {
                if wanted {
                    found.push(body);
                }
            }
            Some((wanted, mut body)) => {
                body.push(line);
                current = Some((wanted, body));
            }
        }
    }
    found
}

fn join(blocks: &[Vec<&str>]) -> String {
    blocks.iter().map(|block| block.join("\n") + "\n\n").collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-env-changed=DROPSAFE_FIXES_DIR");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let fixes = match env::var_os("DROPSAFE_FIXES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => manifest.join("../../../rules/fixes"),
    };
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let mut counts = String::new();
    for name in PATTERNS {
        let source = fixes.join(format!("{name}.md"));
        println!("cargo:rerun-if-changed={}", source.display());
        let markdown = fs::read_to_string(&source)
            .map_err(|error| format!("{}: {error}", source.display()))?;
        let pattern = blocks(&markdown, "rust");
        let naive = blocks(&markdown, "rust should_panic");
        let kept: Vec<Vec<&str>> = pattern
            .iter()
            .filter(|block| !block.iter().any(|line| line.contains("impl Drop for")))
            .cloned()
            .collect();
        write(&out.join(format!("{name}.rs")), &join(&pattern))?;
        write(&out.join(format!("{name}_naive.rs")), &(join(&kept) + &join(&naive)))?;
        counts += &format!("{name} {} {}\n", pattern.len(), naive.len());
    }
    write(&out.join("blocks.txt"), &counts)
}

fn write(path: &Path, text: &str) -> Result<(), Box<dyn std::error::Error>> {
    fs::write(path, text).map_err(|error| format!("{}: {error}", path.display()).into())
}
