//! The block catalog on disk: listing and loading blocks at startup, checking each against its
//! Parquet footer, quarantining damaged ones, and deleting blocks.
//!
//! Listing reads one level of `blocks/`. A block exists once its meta does: a Parquet file
//! without meta is a cut or compaction that died, and is deleted. Anything else there (a
//! directory, a stray file) is logged and left alone. A meta of a newer format than this
//! version knows is logged and skipped, and left in place for the version that wrote it.
//!
//! A block whose meta or Parquet file is damaged (unreadable, checksum or footer mismatch,
//! truncated) is moved with both its files to `quarantine/` and reported through
//! [`TraceStore::warnings`](crate::TraceStore::warnings); startup never fails because of it,
//! and a block found damaged by a read later is quarantined the same way.

use std::collections::BTreeSet;
use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::errors::ParquetError;

use super::block::{self, Block, BlockMeta, MetaProblem};
use super::{Inner, lock_read, lock_write};
use crate::StoreError;

/// Where damaged blocks are moved, beside `blocks/`.
pub(crate) const QUARANTINE_DIR: &str = "quarantine";

/// What the catalog found at startup.
#[derive(Default)]
pub(super) struct Catalog {
    pub blocks: Vec<Block>,
    /// One line per block moved to quarantine, for search responses.
    pub quarantined: Vec<String>,
}

/// Lists and loads the blocks under `blocks/`, oldest first. `local_blocks` is that directory
/// when blocks are on the local disk: it is then read with the file system, which (unlike
/// `object_store`'s listing) can skip a file whose name is not UTF-8 instead of failing.
pub(super) async fn load_blocks(
    objects: &Arc<dyn ObjectStore>,
    local_blocks: Option<&std::path::Path>,
) -> Result<Catalog, StoreError> {
    let names = match local_blocks {
        Some(dir) => list_local(dir)?,
        None => list_objects(objects).await?,
    };
    let mut catalog = Catalog::default();
    for name in &names {
        if let Some(id) = name.strip_suffix(block::PARQUET_SUFFIX) {
            if !names.contains(&format!("{id}{}", block::META_SUFFIX)) {
                delete_orphan_parquet(objects, id).await;
            }
            continue;
        }
        let Some(id) = name.strip_suffix(block::META_SUFFIX) else {
            tracing::warn!(file = %name, "ignoring a stray file under blocks/");
            continue;
        };
        match load_block(objects, id).await {
            Ok(block) => catalog.blocks.push(block),
            Err(LoadProblem::Skip(reason)) => tracing::warn!(block = id, %reason, "skipping block"),
            Err(LoadProblem::Damaged(reason)) => catalog.quarantined.push(quarantine(objects, id, &reason).await),
        }
    }
    catalog.blocks.sort_by_key(|b| (b.meta.min_time, b.meta.created_unix_nano));
    Ok(catalog)
}

/// The file names one level under `blocks/` on the local disk.
fn list_local(dir: &std::path::Path) -> Result<BTreeSet<String>, StoreError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| StoreError::Io(std::io::Error::new(e.kind(), format!("listing {}: {e}", dir.display()))))?;
    let mut names = BTreeSet::new();
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            tracing::warn!(path = %path.display(), "ignoring a directory under blocks/");
            continue;
        }
        match entry.file_name().into_string() {
            Ok(name) => {
                names.insert(name);
            }
            Err(_) => {
                tracing::warn!(path = %path.display(), "ignoring a stray file with a non-UTF-8 name under blocks/")
            }
        }
    }
    Ok(names)
}

/// The object names one level under `blocks/` in an object store.
async fn list_objects(objects: &Arc<dyn ObjectStore>) -> Result<BTreeSet<String>, StoreError> {
    let listed = objects.list_with_delimiter(Some(&Path::from(block::BLOCKS_DIR))).await?;
    for directory in &listed.common_prefixes {
        tracing::warn!(path = %directory, "ignoring a directory under blocks/");
    }
    Ok(listed.objects.iter().filter_map(|m| m.location.filename().map(str::to_owned)).collect())
}

/// A cut or compaction that died before its meta was written.
async fn delete_orphan_parquet(objects: &Arc<dyn ObjectStore>, id: &str) {
    tracing::warn!(block = id, "deleting block without meta");
    if let Err(err) = objects.delete(&block::parquet_path(id)).await {
        tracing::warn!(block = id, error = %err, "could not delete block without meta");
    }
}

/// Why a block was not loaded.
enum LoadProblem {
    /// Left where it is: a newer format, or its meta could not be read (an I/O error).
    Skip(String),
    /// Damaged: quarantined.
    Damaged(String),
}

/// Loads block `id`: its meta, checked against its checksum, and its Parquet footer, checked
/// against the meta (and kept for reads).
async fn load_block(objects: &Arc<dyn ObjectStore>, id: &str) -> Result<Block, LoadProblem> {
    let bytes = match objects.get(&block::meta_path(id)).await {
        Ok(result) => result.bytes().await,
        Err(err) => Err(err),
    }
    .map_err(|e| LoadProblem::Skip(format!("reading its meta: {e}")))?;
    let meta = BlockMeta::parse(&bytes).map_err(|problem| match problem {
        MetaProblem::UnknownFormat(format) => {
            LoadProblem::Skip(format!("meta format {format} is newer than this version reads"))
        }
        MetaProblem::Damaged(reason) => LoadProblem::Damaged(reason),
    })?;
    let block = Block::new(meta).map_err(|e| LoadProblem::Damaged(e.to_string()))?;
    check_parquet(objects, &block).await.map_err(LoadProblem::Damaged)?;
    Ok(block)
}

/// Checks a block's Parquet file against its meta: size, footer, row groups.
async fn check_parquet(objects: &Arc<dyn ObjectStore>, block: &Block) -> Result<(), String> {
    let size = objects.head(&block.parquet_path()).await.map_err(|e| format!("parquet file: {e}"))?.size;
    if size != block.meta.size_bytes {
        return Err(format!("parquet file is {size} bytes, the meta says {}", block.meta.size_bytes));
    }
    let footer = block.reader_metadata(objects).await.map_err(|e| format!("parquet footer: {e}"))?;
    block.meta.check_footer(footer.metadata(), size)
}

/// Moves block `id`'s files to `quarantine/`, and returns the line that reports it.
pub(super) async fn quarantine(objects: &Arc<dyn ObjectStore>, id: &str, reason: &str) -> String {
    for (from, name) in [
        (block::parquet_path(id), format!("{id}{}", block::PARQUET_SUFFIX)),
        (block::meta_path(id), format!("{id}{}", block::META_SUFFIX)),
    ] {
        let to = Path::from(format!("{QUARANTINE_DIR}/{name}"));
        match objects.rename(&from, &to).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(err) => tracing::warn!(path = %from, error = %err, "could not move a damaged block file to quarantine"),
        }
    }
    tracing::warn!(block = id, %reason, "damaged block moved to quarantine/");
    format!("block {id} is damaged and was moved to {QUARANTINE_DIR}/: {reason}")
}

/// Whether `err`, met reading `block`, means the block is damaged (rather than, say, a
/// network error or a file deleted under the reader): the file no longer has the size its
/// meta says, or its content does not decode.
pub(super) async fn is_damage(objects: &Arc<dyn ObjectStore>, block: &Block, err: &StoreError) -> bool {
    match objects.head(&block.parquet_path()).await {
        Ok(found) if found.size != block.meta.size_bytes => true,
        Ok(_) => matches!(
            err,
            StoreError::Arrow(_)
                | StoreError::Other(_)
                | StoreError::Parquet(ParquetError::General(_))
                | StoreError::Parquet(ParquetError::EOF(_))
                | StoreError::Parquet(ParquetError::ArrowError(_))
                | StoreError::Parquet(ParquetError::IndexOutOfBound(..))
        ),
        Err(_) => false,
    }
}

/// Removes the staging files (`<name>#<digits>`) that `LocalFileSystem` writes before a rename
/// and that a crash leaves behind; object stores do not list them.
pub(super) fn remove_staging_files(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((_, suffix)) = name.to_str().and_then(|n| n.split_once('#')) else {
            continue;
        };
        if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => tracing::info!(path = %entry.path().display(), "removed a staging file left by a crash"),
            Err(err) => tracing::warn!(path = %entry.path().display(), error = %err, "could not remove a staging file"),
        }
    }
}

impl Inner {
    /// Quarantines `block` when `err`, met reading it, shows it damaged, so that the read
    /// skips it and other traces stay readable; returns any other error.
    pub(super) async fn skip_if_damaged(&self, block: &Block, err: StoreError) -> Result<(), StoreError> {
        if !is_damage(&self.objects, block, &err).await {
            return Err(err);
        }
        let removed = self.take_out_of_view(&block.meta.id);
        // Of the reads that met the damage at once, one moves the block.
        if removed {
            let line = quarantine(&self.objects, &block.meta.id, &err.to_string()).await;
            lock_write(&self.quarantined).push(line);
            self.publish_sizes();
        }
        Ok(())
    }

    /// The blocks quarantined since the store opened.
    pub(super) fn quarantined(&self) -> Vec<String> {
        lock_read(&self.quarantined).clone()
    }
}
