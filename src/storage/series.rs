//! Series identity: a series is a distinct set of tag values within a table.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, StringArray};

/// Dense id of a series within its table, in order of first write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesId(pub u32);

/// The tag values of a series, in the table's tag-column order. A NULL tag is a
/// value of its own: `(host=NULL)` and `(host='a')` are different series. Tag
/// strings are interned per table, so equal values share one allocation, and
/// a clone (one per piece of every scan) shares the whole key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesKey(Arc<[Option<Arc<str>>]>);

impl SeriesKey {
    pub fn new(values: Vec<Option<Arc<str>>>) -> Self {
        Self(values.into())
    }

    /// The value of the `index`-th tag column.
    pub fn value(&self, index: usize) -> Option<&str> {
        self.0.get(index).and_then(|v| v.as_deref())
    }

    pub fn values(&self) -> &[Option<Arc<str>>] {
        &self.0
    }

    /// Whether `row` of the given tag columns has exactly these values.
    pub(crate) fn matches_row(&self, tags: &[&StringArray], row: usize) -> bool {
        self.0.len() == tags.len()
            && self
                .0
                .iter()
                .zip(tags)
                .all(|(value, column)| match (value, column.is_valid(row)) {
                    (None, false) => true,
                    (Some(v), true) => v.as_ref() == column.value(row),
                    _ => false,
                })
    }

    /// Bytes this key holds beyond the interned strings.
    pub(crate) fn approximate_bytes(&self) -> usize {
        self.0.len() * size_of::<Option<Arc<str>>>()
    }
}

/// A fast, non-cryptographic hash of `row`'s tag values (NULL distinct from
/// every string), for finding a row's series without interning its strings.
/// Equal rows have equal fingerprints; a match is confirmed with
/// [`SeriesKey::matches_row`].
pub(crate) fn row_fingerprint(tags: &[&StringArray], row: usize) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mix = |h: u64, word: u64| (h.rotate_left(5) ^ word).wrapping_mul(K);
    let mut h = 0u64;
    for tag in tags {
        if tag.is_null(row) {
            h = mix(h, u64::MAX);
            continue;
        }
        let bytes = tag.value(row).as_bytes();
        h = mix(h, bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            h = mix(h, u64::from_le_bytes(word));
        }
        let mut last = [0u8; 8];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        h = mix(h, u64::from_le_bytes(last));
    }
    h
}

/// Interns tag strings, one pool per table.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    strings: HashSet<Arc<str>>,
    bytes: usize,
}

impl Interner {
    pub(crate) fn intern(&mut self, value: &str) -> Arc<str> {
        if let Some(existing) = self.strings.get(value) {
            return existing.clone();
        }
        let interned: Arc<str> = Arc::from(value);
        self.bytes += value.len() + 2 * size_of::<usize>();
        self.strings.insert(interned.clone());
        interned
    }

    /// The key of `row` in the given tag columns, with interned strings.
    pub(crate) fn key_of_row(&mut self, tags: &[&StringArray], row: usize) -> SeriesKey {
        SeriesKey::new(
            tags.iter()
                .map(|tag| tag.is_valid(row).then(|| self.intern(tag.value(row))))
                .collect(),
        )
    }

    pub(crate) fn approximate_bytes(&self) -> usize {
        self.bytes + self.strings.capacity() * size_of::<Arc<str>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_tag_is_distinct_from_every_value_and_strings_are_shared() {
        let mut interner = Interner::default();
        let tags = StringArray::from(vec![Some("a"), None, Some("a"), Some("")]);
        let keys: Vec<_> = (0..4).map(|r| interner.key_of_row(&[&tags], r)).collect();
        assert_eq!(keys[0], keys[2]);
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[1], keys[3]);
        assert_eq!(keys[1].value(0), None);
        assert_eq!(keys[3].value(0), Some(""));
        let (Some(a), Some(b)) = (&keys[0].values()[0], &keys[2].values()[0]) else {
            panic!("tags are set");
        };
        assert!(Arc::ptr_eq(a, b));
        assert!(keys[0].matches_row(&[&tags], 2));
        assert!(!keys[0].matches_row(&[&tags], 1));
        assert!(keys[1].matches_row(&[&tags], 1));
    }
}
