//! The inbox cursor: the highest `inbox_seq` the application has been handed. The client
//! resumes from it (`sync` after every connect) and drops any message at or below it.

use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

/// Where the cursor lives between runs.
pub trait CursorStore: Send + Sync + 'static {
    /// The stored cursor (0 when nothing was stored yet).
    ///
    /// # Errors
    /// When the store cannot be read or holds something that is not a number.
    fn load(&mut self) -> io::Result<i64>;

    /// Stores the cursor; called after each message is handed to the application.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn save(&mut self, cursor: i64) -> io::Result<()>;
}

/// A cursor kept in memory only, starting at a given position.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryCursor(pub i64);

impl CursorStore for MemoryCursor {
    fn load(&mut self) -> io::Result<i64> {
        Ok(self.0)
    }

    fn save(&mut self, cursor: i64) -> io::Result<()> {
        self.0 = cursor;
        Ok(())
    }
}

/// A cursor in a small text file (the number and a newline), replaced atomically.
#[derive(Clone, Debug)]
pub struct FileCursor {
    path: PathBuf,
}

impl FileCursor {
    /// A cursor stored at `path`; a missing file means 0.
    pub fn new(path: impl AsRef<Path>) -> FileCursor {
        FileCursor {
            path: path.as_ref().to_owned(),
        }
    }
}

impl CursorStore for FileCursor {
    fn load(&mut self) -> io::Result<i64> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => text.trim().parse().map_err(|_| {
                io::Error::new(
                    ErrorKind::InvalidData,
                    format!("{} does not hold a number", self.path.display()),
                )
            }),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(0),
            Err(err) => Err(err),
        }
    }

    fn save(&mut self, cursor: i64) -> io::Result<()> {
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(".tmp");
        std::fs::write(&temporary, format!("{cursor}\n"))?;
        std::fs::rename(&temporary, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_cursor_starts_at_zero_and_keeps_what_was_saved() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut cursor = FileCursor::new(dir.path().join("cursor"));
        assert_eq!(cursor.load()?, 0);
        cursor.save(42)?;
        assert_eq!(FileCursor::new(dir.path().join("cursor")).load()?, 42);
        std::fs::write(dir.path().join("cursor"), "nope")?;
        assert!(cursor.load().is_err());
        Ok(())
    }
}
