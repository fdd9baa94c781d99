//! Making block files durable on local disk. `object_store`'s `LocalFileSystem` writes a file
//! and renames it into place without fsync, so a power loss could leave a block's Parquet or
//! meta empty after the WAL segments it covers were deleted. Once a block's two files are
//! put, this fsyncs them and the `blocks/` directory (which holds their names). Object stores
//! that are not the local disk promise durability on put and need nothing.

use std::fs::File;
use std::io;
use std::path::Path;

use super::block::{BLOCKS_DIR, META_SUFFIX, PARQUET_SUFFIX};

/// Fsyncs block `id`'s Parquet and meta files under `root/blocks/`, then the directory.
/// Blocking: call it from a blocking thread.
pub(crate) fn sync_block_files(root: &Path, id: &str) -> io::Result<()> {
    let dir = root.join(BLOCKS_DIR);
    for suffix in [PARQUET_SUFFIX, META_SUFFIX] {
        let path = dir.join(format!("{id}{suffix}"));
        sync_path(&path)?;
    }
    sync_path(&dir)
}

/// Fsyncs one file or directory; the error names the path.
pub(crate) fn sync_path(path: &Path) -> io::Result<()> {
    File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|e| io::Error::new(e.kind(), format!("fsync {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_both_files_and_names_a_missing_one() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(BLOCKS_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("b1{PARQUET_SUFFIX}")), b"data").unwrap();
        std::fs::write(dir.join(format!("b1{META_SUFFIX}")), b"{}").unwrap();
        sync_block_files(root.path(), "b1").unwrap();
        let err = sync_block_files(root.path(), "b2").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains(&format!("b2{PARQUET_SUFFIX}")), "{err}");
    }
}
