//! The key camera passwords are sealed with (see `gridwatch_store::sealed`).
//!
//! Taken from `GRIDWATCH_SECRET_KEY` (64 hexadecimal digits) when set — the way to give
//! several hub nodes the same key, and to keep it off the disk the database is on. Otherwise
//! from `<data_dir>/secret.key`, which the hub makes on first start, readable by its owner only
//! (`0600`). A copy of the database (a backup, a stolen disk image of a PostgreSQL server)
//! then does not give away the cameras' passwords without the key.
//!
//! Losing the key loses the cameras' passwords (they must be entered again), not the
//! recordings or incidents.

use anyhow::Context;
use gridwatch_store::sealed::CredentialKey;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The environment variable that carries the key.
pub const ENV: &str = "GRIDWATCH_SECRET_KEY";

/// The key file's name in the data directory.
pub const FILE: &str = "secret.key";

/// The key in force: the environment's, else the data directory's (made if missing).
pub fn load(data_dir: &Path) -> anyhow::Result<CredentialKey> {
    if let Some(hex) = std::env::var(ENV).ok().filter(|v| !v.trim().is_empty()) {
        return CredentialKey::from_hex(&hex).context(ENV);
    }
    let path = data_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mode = std::fs::metadata(&path)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777),
                    "the secret key file is readable by others: chmod 600 it");
            }
            CredentialKey::from_hex(&text).with_context(|| path.display().to_string())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(data_dir, &path),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn create(data_dir: &Path, path: &Path) -> anyhow::Result<CredentialKey> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let key = CredentialKey::generate();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{}", key.to_hex())?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "made a new secret key for camera passwords");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_made_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = load(&data).unwrap();
        let mode = std::fs::metadata(data.join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o077, 0, "{dir_mode:o}");
        let again = load(&data).unwrap();
        assert_eq!(first.to_hex(), again.to_hex());
    }

    #[test]
    fn a_bad_key_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "not a key").unwrap();
        let e = format!("{:#}", load(dir.path()).unwrap_err());
        assert!(
            e.contains("secret.key") && e.contains("64 hexadecimal"),
            "{e}"
        );
    }
}
