//! The meta file of a block and its trace-ID bloom filter.

use std::collections::BTreeMap;

use base64::Engine as _;

use serde::{Deserialize, Serialize};

use parquet::file::metadata::ParquetMetaData;

use super::{BLOOM_BITS_PER_TRACE, BLOOM_HASHES, META_FORMAT};
use crate::{StoreError, TraceId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OperationMeta {
    pub name: String,
    pub span_kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RowGroupMeta {
    pub min_trace_id: String,
    pub max_trace_id: String,
    pub spans: u64,
    pub min_time: u64,
    pub max_time: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EdgeMeta {
    pub parent: String,
    pub child: String,
    /// Unix minute of the child spans' start.
    pub minute: u64,
    pub call_count: u64,
}

/// Child spans of `child` whose parent span `parent_span_id` (of `trace_id`) is not in the
/// block; dependencies look the parent up elsewhere. IDs are lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ParentRefMeta {
    pub trace_id: String,
    pub parent_span_id: String,
    pub child: String,
    /// Unix minute of the child spans' start.
    pub minute: u64,
    pub call_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BloomMeta {
    pub hashes: u32,
    /// The bit array, base64.
    pub bits: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlockMeta {
    pub format: u32,
    pub id: String,
    /// Earliest and latest span start, Unix ns.
    pub min_time: u64,
    pub max_time: u64,
    pub span_count: u64,
    pub trace_count: u64,
    pub size_bytes: u64,
    pub created_unix_nano: u64,
    /// The highest WAL segment whose records this block holds; replay skips it and older.
    pub wal_through: u64,
    pub services: BTreeMap<String, Vec<OperationMeta>>,
    pub bloom: BloomMeta,
    pub row_groups: Vec<RowGroupMeta>,
    pub edges: Vec<EdgeMeta>,
    /// Empty in metas of format 1, which also counted calls within one service in `edges`.
    #[serde(default)]
    pub unresolved_parents: Vec<ParentRefMeta>,
    /// Spans whose start lay outside the placement window, so that the time range holds
    /// their placed time instead (see `placement`). 0 in metas before format 3.
    #[serde(default)]
    pub moved_spans: u64,
    /// CRC-32C of the meta's JSON with this field absent; absent in metas before format 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<u32>,
}

impl BlockMeta {
    /// CRC-32C of the meta's canonical content: its JSON without `checksum` (fields in
    /// declaration order, maps sorted).
    fn content_checksum(&self) -> Result<u32, StoreError> {
        let unsealed = Self { checksum: None, ..self.clone() };
        let json = serde_json::to_vec(&unsealed).map_err(|e| StoreError::Other(format!("encoding block meta: {e}")))?;
        Ok(crc32c::crc32c(&json))
    }

    /// Sets `checksum` to the meta's content.
    pub fn seal(&mut self) {
        self.checksum = self.content_checksum().ok();
    }

    /// Parses a stored meta: its format must be known, and a meta of format 3 or later must
    /// carry the checksum of its content.
    pub fn parse(bytes: &[u8]) -> Result<Self, MetaProblem> {
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        let format = serde_json::from_slice::<Format>(bytes)
            .map_err(|e| MetaProblem::Damaged(format!("bad block meta: {e}")))?
            .format;
        if format > META_FORMAT {
            return Err(MetaProblem::UnknownFormat(format));
        }
        let meta: Self =
            serde_json::from_slice(bytes).map_err(|e| MetaProblem::Damaged(format!("bad block meta: {e}")))?;
        if format >= 3 {
            let expected = meta.content_checksum().map_err(|e| MetaProblem::Damaged(e.to_string()))?;
            if meta.checksum != Some(expected) {
                return Err(MetaProblem::Damaged(format!(
                    "block meta checksum {:?} does not match its content ({expected})",
                    meta.checksum
                )));
            }
        }
        Ok(meta)
    }

    /// Checks the meta against the Parquet file: its size and its row groups' row counts.
    pub fn check_footer(&self, footer: &ParquetMetaData, file_size: u64) -> Result<(), String> {
        if file_size != self.size_bytes {
            return Err(format!("parquet file is {file_size} bytes, the meta says {}", self.size_bytes));
        }
        check_row_groups(&self.row_groups, footer.row_groups().iter().map(|g| g.num_rows()))
    }
}

/// Why a stored meta cannot be used.
#[derive(Debug)]
pub(crate) enum MetaProblem {
    /// Written by a newer version: left alone.
    UnknownFormat(u32),
    /// Unreadable, or its checksum does not match.
    Damaged(String),
}

/// Checks that `row_groups` (a meta's) match the row counts of a file's row groups.
pub(crate) fn check_row_groups(
    row_groups: &[RowGroupMeta],
    file_rows: impl ExactSizeIterator<Item = i64>,
) -> Result<(), String> {
    if file_rows.len() != row_groups.len() {
        return Err(format!("parquet file has {} row groups, the meta lists {}", file_rows.len(), row_groups.len()));
    }
    for (index, (rows, group)) in file_rows.zip(row_groups).enumerate() {
        if u64::try_from(rows).ok() != Some(group.spans) {
            return Err(format!("row group {index} has {rows} rows, the meta says {}", group.spans));
        }
    }
    Ok(())
}

/// A bloom filter over trace IDs, with double hashing.
#[derive(Debug, Clone)]
pub(crate) struct Bloom {
    bits: Vec<u8>,
    hashes: u32,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64's finalizer: trace IDs such as 0…011 are far from random.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Bloom {
    pub(super) fn with_capacity(traces: usize) -> Self {
        let bytes = (traces * BLOOM_BITS_PER_TRACE).div_ceil(8).max(8);
        Self { bits: vec![0; bytes], hashes: BLOOM_HASHES }
    }

    fn positions(&self, id: &TraceId) -> impl Iterator<Item = usize> + use<> {
        let (high, low) = id.split_at(8);
        let a = u64::from_le_bytes(high.try_into().unwrap_or_default());
        let b = u64::from_le_bytes(low.try_into().unwrap_or_default());
        let h1 = mix(a.wrapping_add(mix(b ^ 0x9e37_79b9_7f4a_7c15)));
        let h2 = mix(b.wrapping_add(mix(a ^ 0xc2b2_ae3d_27d4_eb4f))) | 1;
        let m = (self.bits.len() * 8) as u64;
        (0..u64::from(self.hashes)).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize)
    }

    pub(super) fn insert(&mut self, id: &TraceId) {
        for bit in self.positions(id).collect::<Vec<_>>() {
            self.bits[bit / 8] |= 1 << (bit % 8);
        }
    }

    pub fn may_contain(&self, id: &TraceId) -> bool {
        self.positions(id).all(|bit| self.bits[bit / 8] & (1 << (bit % 8)) != 0)
    }

    pub(super) fn to_meta(&self) -> BloomMeta {
        BloomMeta { hashes: self.hashes, bits: base64::engine::general_purpose::STANDARD.encode(&self.bits) }
    }

    pub(super) fn from_meta(meta: &BloomMeta) -> Result<Self, StoreError> {
        let bits = base64::engine::general_purpose::STANDARD
            .decode(&meta.bits)
            .map_err(|e| StoreError::Other(format!("bad bloom filter: {e}")))?;
        if bits.is_empty() || meta.hashes == 0 {
            return Err(StoreError::Other("empty bloom filter".to_owned()));
        }
        Ok(Self { bits, hashes: meta.hashes })
    }
}
