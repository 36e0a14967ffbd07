//! Attachments on disk. A file is stored under a random key in a two-level
//! folder tree; the name a user gave it is kept in the database only, so
//! it never becomes a path.

use std::path::{Path, PathBuf};

use rand::RngCore;

use crate::{Result, StorageError};

#[derive(Clone, Debug)]
pub struct FileStore {
    root: PathBuf,
}

fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> StorageError {
    move |source| StorageError::Io { context, source }
}

impl FileStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// A key is 32 lowercase hex digits, nothing else, so it is always a
    /// safe file name.
    fn path_of(&self, key: &str) -> Option<PathBuf> {
        let valid = key.len() == 32
            && key
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        valid.then(|| self.root.join(&key[..2]).join(key))
    }

    /// Writes the bytes under a new key and returns the key. The file is
    /// written to a temporary name first and renamed, so a crash never
    /// leaves half a file under a key.
    pub async fn put(&self, bytes: &[u8]) -> Result<String> {
        let mut raw = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let key: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let path = self
            .path_of(&key)
            .ok_or_else(|| StorageError::Corrupt("bad key".into()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(io("creating an attachment folder"))?;
        let tmp = path.with_extension("partial");
        tokio::fs::write(&tmp, bytes)
            .await
            .map_err(io("writing an attachment"))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(io("storing an attachment"))?;
        Ok(key)
    }

    pub async fn get(&self, key: &str) -> Result<Vec<u8>> {
        let path = self
            .path_of(key)
            .ok_or_else(|| StorageError::Corrupt("bad key".into()))?;
        tokio::fs::read(path)
            .await
            .map_err(io("reading an attachment"))
    }

    /// Removes a file whose database record was never written.
    pub async fn delete(&self, key: &str) {
        if let Some(path) = self.path_of(key) {
            let _ = tokio::fs::remove_file(path).await;
        }
    }
}
