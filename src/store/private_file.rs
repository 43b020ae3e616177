//! SQLite files hold customers' names, emails and invoices, raw webhook
//! bodies and the generated link secret: they are created readable by the
//! service's own user only (0600). SQLite gives its `-wal` and `-shm` files
//! the database file's permissions. A file that already exists keeps its
//! mode (an operator may have shared it with a backup group on purpose), but
//! start-up says so when others can read it.

use std::path::Path;

use anyhow::Context;

/// Creates `path` empty with mode 0600 when it is missing, so SQLite opens
/// it instead of creating it under the umask.
pub fn create_private(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if let Ok(meta) = std::fs::metadata(path) {
                    let mode = meta.permissions().mode() & 0o777;
                    if mode & 0o077 != 0 {
                        tracing::warn!(
                            file = %path.display(),
                            mode = format!("{mode:o}"),
                            "the database file is readable by other users: `chmod 600` it unless that is meant"
                        );
                    }
                }
            }
            // A directory that does not exist: SQLite's own error says it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("creating {}", path.display()));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_new_file_is_the_owners_alone_and_an_old_one_is_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        create_private(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        create_private(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert!(create_private(&dir.path().join("missing/dir.db")).is_ok());
    }
}
