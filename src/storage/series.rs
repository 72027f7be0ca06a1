//! Series identity: a series is a distinct set of tag values within a table.

use arrow::array::{Array, StringArray};

/// Dense id of a series within its table, in order of first write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesId(pub u64);

/// The tag values of a series, in the table's tag-column order. A NULL tag is a
/// value of its own: `(host=NULL)` and `(host='a')` are different series.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesKey(Vec<Option<Box<str>>>);

impl SeriesKey {
    pub fn new(values: Vec<Option<Box<str>>>) -> Self {
        Self(values)
    }

    /// The key of `row` in the given tag columns.
    pub(crate) fn from_row(tags: &[&StringArray], row: usize) -> Self {
        Self(
            tags.iter()
                .map(|tag| tag.is_valid(row).then(|| Box::from(tag.value(row))))
                .collect(),
        )
    }

    /// The value of the `index`-th tag column.
    pub fn value(&self, index: usize) -> Option<&str> {
        self.0.get(index).and_then(|v| v.as_deref())
    }

    pub(crate) fn approximate_bytes(&self) -> usize {
        self.0.capacity() * size_of::<Option<Box<str>>>()
            + self.0.iter().flatten().map(|v| v.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_tag_is_distinct_from_every_value() {
        let tags = StringArray::from(vec![Some("a"), None, Some("a"), Some("")]);
        let keys: Vec<_> = (0..4).map(|r| SeriesKey::from_row(&[&tags], r)).collect();
        assert_eq!(keys[0], keys[2]);
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[1], keys[3]);
        assert_eq!(keys[1].value(0), None);
        assert_eq!(keys[3].value(0), Some(""));
    }
}
