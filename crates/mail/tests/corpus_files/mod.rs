//! Which files of the shared mail corpus are messages. Shared by the
//! parser's corpus run and the ingest's (`crates/mailroom/tests/corpus.rs`),
//! so both count the same messages.

use std::path::{Path, PathBuf};

/// Every file under `dir`, recursively.
pub fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// The corpus holds messages beside the other parsers' expectations
/// (`.yml`, `.json`), extracted attachments, licences and manifests; some
/// messages are named `.txt`. So: skip expectations and paperwork by name,
/// then take a file as a message when it starts with an mbox `From ` line
/// or a header field (`Name: value`), or when two of its first five lines
/// are header fields, which lets a stray first line pass. Lines end in LF,
/// CRLF or a bare CR (old Mac files); folded continuations do not count.
pub fn looks_like_a_message(path: &Path, raw: &[u8]) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    let expectation = ["yml", "yaml", "json", "md"].contains(&extension);
    let paperwork = ["README", "MANIFEST", "COPYING", "LICENSE", "AUTHORS"]
        .iter()
        .any(|p| name.to_ascii_uppercase().starts_with(p));
    if expectation || paperwork {
        return false;
    }
    let lines: Vec<&[u8]> = raw
        .split(|&b| b == b'\n' || b == b'\r')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .filter(|line| !line.starts_with(b" ") && !line.starts_with(b"\t"))
        .take(5)
        .collect();
    let Some(first) = lines.first() else {
        return false;
    };
    first.starts_with(b"From ")
        || is_header_field(first)
        || lines.iter().filter(|line| is_header_field(line)).count() >= 2
}

fn is_header_field(line: &[u8]) -> bool {
    match line.iter().position(|&b| b == b':') {
        Some(colon) if colon > 0 => line[..colon].iter().all(|&b| b.is_ascii_graphic()),
        _ => false,
    }
}
