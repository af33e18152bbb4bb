//! The session database file is readable by its owner only.
//!
//! The file holds every live session id and, when `SESSION_SECRET` is not set, the key
//! that signs the cookies: whoever can read it can sign in as anybody. SQLite creates a
//! new database with the mode 0644 (less the umask), readable by every user of the
//! machine, and creates its `-wal` and `-shm` files with the database file's mode. So
//! the database file is made 0600 before SQLite opens it, and all three are private.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;

/// Makes the SQLite database named by `database_url` readable and writable by the user
/// who runs the server only, creating the file if it is missing. Other databases
/// (`postgres://`) and in-memory ones are left alone.
pub fn restrict_to_owner(database_url: &str) -> Result<(), sqlx::Error> {
    let in_memory = database_url.contains(":memory:") || database_url.contains("mode=memory");
    if !database_url.starts_with("sqlite:") || in_memory {
        return Ok(());
    }
    let options = SqliteConnectOptions::from_str(database_url)?;
    restrict(options.get_filename())?;
    Ok(())
}

#[cfg(unix)]
fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    // A new file gets 0600; the umask can only take bits away, so it stays 0600 however
    // permissive the umask is. An existing file keeps its mode, so it is set as well;
    // so are `-wal` and `-shm` files left by an earlier run.
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        if Path::new(&file).exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// Windows has no mode bits: a new file takes the access list of its folder. In the
/// user's profile (`C:\Users\NAME\...`, where a checkout usually lives) that list
/// lets in the user, SYSTEM and the administrators only, so the database is private
/// there already; in a folder other users may read, such as one on `C:\` itself, it
/// is not, and the database belongs elsewhere (`DATABASE_URL`).
#[cfg(not(unix))]
fn restrict(_path: &Path) -> std::io::Result<()> {
    Ok(())
}
