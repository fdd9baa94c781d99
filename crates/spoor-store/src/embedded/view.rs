//! What a read sees: the frozen heads and the blocks, swapped as one immutable `View`, and
//! the handles that keep a block's Parquet file on disk while any view holds it.
//!
//! Every transition (live head → frozen, frozen head → block, blocks replaced by compaction
//! or dropped by retention) builds a new `View` and swaps it in under one lock, so a reader
//! that captures the view together with the live head's matching records (under the head's
//! lock, see `Inner::capture`) sees every span exactly once or more (reads dedupe), never
//! nowhere. A retired block's meta is deleted at once, so it is gone after a restart; its
//! Parquet file is deleted when the last view holding it is dropped.

use std::collections::HashMap;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use object_store::{ObjectStore, ObjectStoreExt};

use super::block::{self, Block};
use super::head::Head;
use super::index::{SEARCH_SUFFIX, search_path};
use crate::StoreError;

/// A head being cut into a block, with the last WAL segment it covers.
#[derive(Clone)]
pub(crate) struct FrozenHead {
    pub head: Arc<Head>,
    pub wal_through: u64,
}

/// The frozen heads (oldest first) and the blocks (by min time) at one moment.
#[derive(Clone, Default)]
pub(crate) struct View {
    pub frozen: Vec<FrozenHead>,
    pub blocks: Vec<Arc<BlockHandle>>,
}

impl View {
    /// This view with `retired` blocks removed and `added` ones put in order.
    pub fn with_blocks(&self, retired: &[&str], added: Vec<Arc<BlockHandle>>) -> Self {
        let mut blocks: Vec<Arc<BlockHandle>> =
            self.blocks.iter().filter(|b| !retired.contains(&b.meta.id.as_str())).cloned().collect();
        blocks.extend(added);
        blocks.sort_by_key(|b| (b.meta.min_time, b.meta.created_unix_nano));
        Self { frozen: self.frozen.clone(), blocks }
    }

    pub fn heads(&self) -> impl Iterator<Item = &Head> {
        self.frozen.iter().map(|f| f.head.as_ref())
    }
}

/// A block in the store's views. Dereferences to the `Block`.
pub(crate) struct BlockHandle {
    block: Block,
    retired: AtomicBool,
    reaper: Arc<Reaper>,
}

impl Deref for BlockHandle {
    type Target = Block;

    fn deref(&self) -> &Block {
        &self.block
    }
}

impl AsRef<Block> for Arc<BlockHandle> {
    fn as_ref(&self) -> &Block {
        &self.block
    }
}

impl Drop for BlockHandle {
    fn drop(&mut self) {
        let id = &self.block.meta.id;
        {
            let mut handles = self.reaper.lock();
            if handles.get(id).is_some_and(|h| h.strong_count() == 0) {
                handles.remove(id);
            }
        }
        if self.retired.load(Ordering::Acquire) {
            self.reaper.delete_parquet(id);
        }
    }
}

/// Hands out block handles and deletes retired blocks' files once unused.
pub(crate) struct Reaper {
    objects: Arc<dyn ObjectStore>,
    /// The data directory when blocks are on the local disk: files are then deleted at once
    /// from the thread that drops the last handle.
    local_root: Option<PathBuf>,
    handles: Mutex<HashMap<String, Weak<BlockHandle>>>,
}

impl Reaper {
    pub fn new(objects: Arc<dyn ObjectStore>, local_root: Option<PathBuf>) -> Arc<Self> {
        Arc::new(Self { objects, local_root, handles: Mutex::new(HashMap::new()) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Weak<BlockHandle>>> {
        self.handles.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The handle views hold for `block`.
    pub fn handle(self: &Arc<Self>, block: Block) -> Arc<BlockHandle> {
        let id = block.meta.id.clone();
        let handle = Arc::new(BlockHandle { block, retired: AtomicBool::new(false), reaper: self.clone() });
        self.lock().insert(id, Arc::downgrade(&handle));
        handle
    }

    /// Takes `block` out of the store for good: its meta is deleted now (after a restart the
    /// block does not exist; startup deletes a Parquet file without meta), its Parquet file
    /// when no view holds it any more. Call it after swapping in a view without the block.
    pub async fn retire(&self, block: &Block) -> Result<(), StoreError> {
        let id = &block.meta.id;
        match self.objects.delete(&block::meta_path(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(err) => return Err(err.into()),
        }
        let live = self.lock().get(id).and_then(Weak::upgrade);
        match live {
            // The last reader (maybe this very drop) deletes the file.
            Some(handle) => handle.retired.store(true, Ordering::Release),
            None => self.delete_parquet(id),
        }
        Ok(())
    }

    /// Deletes a retired block's Parquet file: at once on the local disk, else in a task. A
    /// file left behind (no runtime, or the process stopped first) is deleted at the next
    /// start, as a Parquet file without meta.
    fn delete_parquet(&self, id: &str) {
        if let Some(root) = &self.local_root {
            for suffix in [block::PARQUET_SUFFIX, SEARCH_SUFFIX] {
                let path = root.join(block::BLOCKS_DIR).join(format!("{id}{suffix}"));
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => tracing::warn!(path = %path.display(), error = %err, "deleting a retired block failed"),
                }
            }
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::debug!(block = id, "retired block left for the next start to delete");
            return;
        };
        let objects = self.objects.clone();
        let paths = [block::parquet_path(id), search_path(id)];
        runtime.spawn(async move {
            for path in paths {
                match objects.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(err) => tracing::warn!(path = %path, error = %err, "deleting a retired block failed"),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use object_store::local::LocalFileSystem;

    use super::*;
    use crate::embedded::block::Placing;

    /// An (empty) block `id` stored under `root`.
    fn stored_block(root: &std::path::Path, id: &str) -> Block {
        let as_is = Placing::Clamp { min: 0, max: u64::MAX };
        let built = block::build_in_memory(Vec::new(), as_is, id.to_owned(), 0, 0).unwrap();
        let (bytes, meta) = (built.parquet, built.meta);
        let dir = root.join(block::BLOCKS_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{id}{}", block::PARQUET_SUFFIX)), bytes).unwrap();
        std::fs::write(dir.join(format!("{id}{}", block::META_SUFFIX)), serde_json::to_vec(&meta).unwrap()).unwrap();
        Block::new(meta).unwrap()
    }

    #[tokio::test]
    async fn a_retired_block_keeps_its_file_until_the_last_view_is_dropped() {
        let root = tempfile::tempdir().unwrap();
        let objects: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(root.path()).unwrap());
        let reaper = Reaper::new(objects, Some(root.path().to_owned()));
        let parquet = root.path().join(block::BLOCKS_DIR).join(format!("b1{}", block::PARQUET_SUFFIX));
        let meta = root.path().join(block::BLOCKS_DIR).join(format!("b1{}", block::META_SUFFIX));

        let view = View { frozen: Vec::new(), blocks: vec![reaper.handle(stored_block(root.path(), "b1"))] };
        let reader = Arc::new(view.clone());
        let current = view.with_blocks(&["b1"], Vec::new());
        assert!(current.blocks.is_empty());
        reaper.retire(&reader.blocks[0]).await.unwrap();
        drop(view);
        assert!(!meta.exists(), "the meta goes at once");
        assert!(parquet.exists(), "a reader still holds the block");
        drop(reader);
        assert!(!parquet.exists(), "the last reader is gone");

        // A block nobody holds any more goes at once.
        let block = stored_block(root.path(), "b2");
        reaper.retire(&block).await.unwrap();
        assert!(!root.path().join(block::BLOCKS_DIR).join(format!("b2{}", block::PARQUET_SUFFIX)).exists());
    }
}
