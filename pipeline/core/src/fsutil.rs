//! Files written whole or not at all: the keys file, the run records and the fetch archive.
//!
//! An [`AtomicFile`] is a temporary file in the target's folder (created exclusively, by
//! `tempfile`); [`AtomicFile::commit`] syncs it, renames it over the target and syncs the
//! folder, so a reader sees the old file or the new one, never half of one, and a crash
//! after `commit` keeps the new one. A file dropped before `commit` (an error on the way)
//! is removed. [`write_atomically`] does all of it for bytes in memory.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::ErrorKind;

/// Who may read a file written here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The owner only (mode 0600 on unix): files holding secrets or hashes of them.
    Private,
    /// As `File::create` would make it (0666 less the umask on unix).
    Shared,
}

/// A failed step of an atomic write, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("failed to {step} {}: {source}", path.display())]
pub struct FsError {
    step: &'static str,
    path: PathBuf,
    #[source]
    source: io::Error,
}

impl FsError {
    fn new(step: &'static str, path: &Path, source: io::Error) -> FsError {
        FsError {
            step,
            path: path.to_owned(),
            source,
        }
    }

    /// Failures to write a local file are xlfeed's own trouble (a full disk, a wrong
    /// folder), not the caller's.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }

    /// The operating system's classification of the underlying failure.
    pub fn io_kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

/// A file being written in place of `path`: nothing at `path` changes until [`commit`].
///
/// [`commit`]: AtomicFile::commit
#[derive(Debug)]
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
    dir: PathBuf,
}

impl AtomicFile {
    /// Starts a new version of `path` (creating its folder if need be).
    pub fn create(path: &Path, access: Access) -> Result<AtomicFile, FsError> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let Some(name) = path.file_name() else {
            return Err(FsError::new(
                "write",
                path,
                io::Error::new(io::ErrorKind::InvalidInput, "not a file path"),
            ));
        };
        fs::create_dir_all(&dir).map_err(|e| FsError::new("create the folder", &dir, e))?;
        // `.name.XXXXXX.tmp`: hidden, and recognisably the file's own if a crash leaves it.
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(name);
        prefix.push(".");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = match access {
                Access::Private => 0o600,
                Access::Shared => 0o666,
            };
            builder.permissions(fs::Permissions::from_mode(mode));
        }
        #[cfg(not(unix))]
        let _ = access;
        let tmp = builder
            .tempfile_in(&dir)
            .map_err(|e| FsError::new("create a temporary file for", path, e))?;
        Ok(AtomicFile {
            tmp,
            path: path.to_owned(),
            dir,
        })
    }

    /// The file this one replaces on commit.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Syncs the data, renames the file over the target, then syncs the folder so that the
    /// rename itself survives a crash.
    pub fn commit(self) -> Result<(), FsError> {
        let AtomicFile { tmp, path, dir } = self;
        tmp.as_file()
            .sync_all()
            .map_err(|e| FsError::new("sync", &path, e))?;
        // On failure the error holds the temporary file, which its drop removes.
        tmp.persist(&path)
            .map_err(|e| FsError::new("replace", &path, e.error))?;
        // Not every platform can open a folder for syncing: best effort.
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.tmp.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

/// Replaces `path` with `bytes`, whole: see the module documentation.
pub fn write_atomically(path: &Path, bytes: &[u8], access: Access) -> Result<(), FsError> {
    let mut file = AtomicFile::create(path, access)?;
    file.write_all(bytes)
        .map_err(|e| FsError::new("write", path, e))?;
    file.commit()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_the_file_whole_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("keys.json");
        write_atomically(&path, b"first version, rather long\n", Access::Private).unwrap();
        write_atomically(&path, b"second\n", Access::Private).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second\n");
        assert_eq!(names(&dir.path().join("sub")), ["keys.json"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn shared_files_are_readable_by_others_as_the_umask_allows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.gz");
        write_atomically(&path, b"x", Access::Shared).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_ne!(mode & 0o044, 0, "{mode:o}");
        }
    }

    #[test]
    fn a_failed_replace_keeps_the_old_file_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // A folder where the file should go: the rename fails.
        let path = dir.path().join("taken");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), b"old").unwrap();
        let e = write_atomically(&path, b"new", Access::Private).unwrap_err();
        assert!(e.to_string().starts_with("failed to replace "), "{e}");
        assert!(e.to_string().contains("taken"), "{e}");
        assert_eq!(names(dir.path()), ["taken"]);
        assert_eq!(fs::read(path.join("inside")).unwrap(), b"old");
    }

    #[test]
    fn an_abandoned_file_is_removed_and_the_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("archive.gz");
        fs::write(&path, b"old").unwrap();
        let mut f = AtomicFile::create(&path, Access::Shared).unwrap();
        f.write_all(b"half a repl").unwrap();
        assert_eq!(names(dir.path()).len(), 2);
        drop(f);
        assert_eq!(names(dir.path()), ["archive.gz"]);
        assert_eq!(fs::read(&path).unwrap(), b"old");
    }

    #[test]
    fn a_path_with_no_file_name_is_named() {
        let e = write_atomically(Path::new("/"), b"x", Access::Private).unwrap_err();
        assert!(e.to_string().contains("not a file path"), "{e}");
    }
}
