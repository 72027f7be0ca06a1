//! Table images: a table's contents (series keys, sealed blocks, heads) as
//! bytes, for WAL records and snapshots.
//!
//! A write is logged as the image of the staging table it built, and a
//! snapshot as the images of whole tables, so both are read back the same
//! way: into a staging table that [`Table::absorb`](super::Table::absorb)
//! moves in. Sealed blocks travel as they are held (already compressed);
//! heads travel as plain columns (the WAL) or as blocks (snapshots), and
//! become heads again.
//!
//! ```text
//! image:  chunk*
//! chunk:  series | shard i64 | block count | block* | head rows | [head encoding u8, head]
//! series: varint 0, then a key (per tag: varint 0 = NULL or 1 + len, bytes),
//!         which takes the next index of this image; or varint 1 + index
//! ```
//! Images are cut into fragments of about [`FRAGMENT_BYTES`], each standing
//! alone (its own series indexes).

use std::sync::Arc;

use super::block::SealedBlock;
use super::bytes::{Reader, Writer};
use super::error::{Result, corrupt};
use super::head::HeadBlock;
use super::schema::ColumnType;
use super::series::{SeriesId, SeriesKey};

/// How an image holds heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Heads {
    /// Compressed, as a block: small, for snapshots.
    Block,
    /// Plain columns: fast to write, for the WAL.
    Raw,
}

const HEAD_BLOCK: u8 = 1;
const HEAD_RAW: u8 = 2;

/// The size a fragment is cut at.
pub(super) const FRAGMENT_BYTES: usize = 8 << 20;

/// A consistent view of a table's contents, taken by cloning pointers.
#[derive(Debug, Default)]
pub(super) struct Capture {
    pub(super) keys: Vec<SeriesKey>,
    /// By shard, then series.
    pub(super) chunks: Vec<CapturedChunk>,
}

#[derive(Debug)]
pub(super) struct CapturedChunk {
    pub(super) shard: i64,
    pub(super) series: SeriesId,
    pub(super) sealed: Vec<Arc<SealedBlock>>,
    pub(super) head: Arc<HeadBlock>,
}

impl Capture {
    pub(super) fn rows(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| c.head.len() + c.sealed.iter().map(|b| b.rows()).sum::<usize>())
            .sum()
    }

    /// Encodes the capture as fragments, each started by `start` (which
    /// writes a record header) on a fresh writer.
    pub(super) fn encode(&self, heads: Heads, start: impl Fn(&mut Writer)) -> Result<Vec<Vec<u8>>> {
        let mut fragments = Vec::new();
        let mut w = Writer::default();
        start(&mut w);
        let header = w.bytes.len();
        // Series index within the current fragment, by series id.
        let mut local: Vec<Option<u64>> = vec![None; self.keys.len()];
        let mut next_local = 0u64;
        for chunk in &self.chunks {
            if w.bytes.len() >= FRAGMENT_BYTES {
                fragments.push(std::mem::take(&mut w.bytes));
                start(&mut w);
                local.iter_mut().for_each(|l| *l = None);
                next_local = 0;
            }
            let id = chunk.series.0 as usize;
            match local.get(id).copied().flatten() {
                Some(index) => w.varint(index + 1),
                None => {
                    let key = self
                        .keys
                        .get(id)
                        .ok_or_else(|| corrupt("captured chunk of an unknown series"))?;
                    w.varint(0);
                    write_key(&mut w, key);
                    local[id] = Some(next_local);
                    next_local += 1;
                }
            }
            w.i64(chunk.shard);
            w.len(chunk.sealed.len());
            for block in &chunk.sealed {
                block.write_to(&mut w);
            }
            w.len(chunk.head.len());
            if !chunk.head.is_empty() {
                match heads {
                    Heads::Block => {
                        w.u8(HEAD_BLOCK);
                        chunk.head.to_block()?.write_to(&mut w);
                    }
                    Heads::Raw => {
                        w.u8(HEAD_RAW);
                        chunk.head.write_raw(&mut w);
                    }
                }
            }
        }
        if w.bytes.len() > header || fragments.is_empty() {
            fragments.push(w.bytes);
        }
        Ok(fragments)
    }
}

/// One chunk read back from an image.
#[derive(Debug)]
pub(super) struct ImageChunk {
    pub(super) key: SeriesKey,
    pub(super) shard: i64,
    pub(super) sealed: Vec<SealedBlock>,
    pub(super) head: Option<HeadImage>,
}

impl ImageChunk {
    /// The rows it holds, after decoding every column of its blocks: what a
    /// scan of it would read.
    pub(super) fn decoded_rows(&self) -> Result<usize> {
        let mut blocks: Vec<&SealedBlock> = self.sealed.iter().collect();
        let mut rows = 0;
        match &self.head {
            None => {}
            Some(HeadImage::Block(block)) => blocks.push(block),
            Some(HeadImage::Raw(head)) => rows += head.len(),
        }
        for block in blocks {
            block.decode_times()?;
            for field in 0..block.field_count() {
                if let Some(column_type) = block.field_type(field) {
                    block.decode_field(field, column_type)?;
                }
            }
            rows += block.rows();
        }
        Ok(rows)
    }
}

/// A head as an image holds it.
#[derive(Debug)]
pub(super) enum HeadImage {
    Block(SealedBlock),
    Raw(HeadBlock),
}

/// Writes a series key: per tag, varint 0 for NULL or 1 + its length, then
/// its bytes.
pub(super) fn write_key(w: &mut Writer, key: &SeriesKey) {
    for value in key.values() {
        match value {
            None => w.varint(0),
            Some(v) => {
                w.varint(v.len() as u64 + 1);
                w.bytes.extend_from_slice(v.as_bytes());
            }
        }
    }
}

/// Reads a series key of `tag_count` tags written by [`write_key`].
pub(super) fn read_key(r: &mut Reader<'_>, tag_count: usize) -> Result<SeriesKey> {
    let mut values = Vec::with_capacity(tag_count.min(r.remaining()));
    for _ in 0..tag_count {
        values.push(match r.varint()? {
            0 => None,
            n => {
                let len =
                    usize::try_from(n - 1).map_err(|_| corrupt("tag value length overflows"))?;
                let text = std::str::from_utf8(r.exact(len)?)
                    .map_err(|_| corrupt("tag value is not valid UTF-8"))?;
                Some(Arc::<str>::from(text))
            }
        });
    }
    Ok(SeriesKey::new(values))
}

/// Reads the chunks of an image fragment for a table with `tag_count` tags
/// and field columns of `field_types`.
pub(super) fn decode(
    image: &[u8],
    tag_count: usize,
    field_types: &[ColumnType],
) -> Result<Vec<ImageChunk>> {
    let mut r = Reader::new(image);
    let mut keys: Vec<SeriesKey> = Vec::new();
    let mut chunks = Vec::new();
    while !r.is_empty() {
        let key = match r.varint()? {
            0 => {
                let key = read_key(&mut r, tag_count)?;
                keys.push(key.clone());
                key
            }
            n => keys
                .get(n as usize - 1)
                .cloned()
                .ok_or_else(|| corrupt("image refers to an unknown series"))?,
        };
        let shard = r.i64()?;
        let count = r.len()?;
        let mut sealed = Vec::with_capacity(count);
        for _ in 0..count {
            sealed.push(SealedBlock::read_from(&mut r, field_types)?);
        }
        let head = match r.varint()? {
            0 => None,
            rows => match r.u8()? {
                HEAD_BLOCK => {
                    let block = SealedBlock::read_from(&mut r, field_types)?;
                    if block.rows() as u64 != rows {
                        return Err(corrupt("head row count does not match its block"));
                    }
                    Some(HeadImage::Block(block))
                }
                HEAD_RAW => {
                    let rows = usize::try_from(rows)
                        .ok()
                        .filter(|&n| n <= r.remaining())
                        .ok_or_else(|| corrupt("head row count exceeds the record"))?;
                    Some(HeadImage::Raw(HeadBlock::read_raw(
                        &mut r,
                        rows,
                        field_types,
                    )?))
                }
                other => return Err(corrupt(format!("unknown head encoding {other}"))),
            },
        };
        chunks.push(ImageChunk {
            key,
            shard,
            sealed,
            head,
        });
    }
    Ok(chunks)
}
