//! The inverted tag index: (tag column, value) → series. It answers tag
//! predicates without touching any points.
//!
//! Predicates follow SQL's three-valued logic: a NULL tag matches only
//! `IS NULL`; `<>`, `NOT IN` and `LIKE` never match it.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::series::{SeriesId, SeriesKey};

/// A predicate on one tag column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagPredicate {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    /// `LIKE 'prefix%'`.
    Prefix(String),
    IsNull,
    IsNotNull,
}

/// A filter over series, built from tag predicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeriesFilter {
    /// Every series.
    All,
    /// A predicate on the `tag`-th tag column (position among the tag columns).
    Tag {
        tag: usize,
        predicate: TagPredicate,
    },
    And(Vec<SeriesFilter>),
    Or(Vec<SeriesFilter>),
}

impl SeriesFilter {
    /// Whether the series with tag values `key` passes, as the index
    /// decides it (a NULL tag passes only `IS NULL`).
    pub fn matches(&self, key: &SeriesKey) -> bool {
        match self {
            SeriesFilter::All => true,
            SeriesFilter::And(filters) => filters.iter().all(|f| f.matches(key)),
            SeriesFilter::Or(filters) => filters.iter().any(|f| f.matches(key)),
            SeriesFilter::Tag { tag, predicate } => match (predicate, key.value(*tag)) {
                (TagPredicate::IsNull, v) => v.is_none(),
                (TagPredicate::IsNotNull, v) => v.is_some(),
                (_, None) => false,
                (TagPredicate::Eq(x), Some(v)) => v == x,
                (TagPredicate::NotEq(x), Some(v)) => v != x,
                (TagPredicate::In(xs), Some(v)) => xs.iter().any(|x| x == v),
                (TagPredicate::NotIn(xs), Some(v)) => xs.iter().all(|x| x != v),
                (TagPredicate::Prefix(p), Some(v)) => v.starts_with(p.as_str()),
            },
        }
    }

    /// Tag values of which every series that passes has one: `(tag
    /// position, value)` pairs, none of which a passing series lacks all
    /// of. `None` when no such list is known (the filter must be tested on
    /// every series).
    pub fn required_values(&self) -> Option<Vec<(usize, &str)>> {
        match self {
            SeriesFilter::Tag {
                tag,
                predicate: TagPredicate::Eq(v),
            } => Some(vec![(*tag, v.as_str())]),
            SeriesFilter::Tag {
                tag,
                predicate: TagPredicate::In(vs),
            } => Some(vs.iter().map(|v| (*tag, v.as_str())).collect()),
            SeriesFilter::And(filters) => filters.iter().find_map(SeriesFilter::required_values),
            SeriesFilter::Or(filters) => {
                let lists: Option<Vec<_>> =
                    filters.iter().map(SeriesFilter::required_values).collect();
                lists.map(|lists| lists.into_iter().flatten().collect())
            }
            _ => None,
        }
    }
}

/// A sorted, duplicate-free set of series ids.
pub type SeriesSet = Vec<SeriesId>;

#[derive(Debug, Default)]
struct TagColumnIndex {
    values: BTreeMap<Arc<str>, Vec<SeriesId>>,
    nulls: Vec<SeriesId>,
}

/// One inverted index per tag column. Series ids are appended in increasing
/// order, so every posting list stays sorted.
#[derive(Debug)]
pub(crate) struct TagIndex {
    columns: Vec<TagColumnIndex>,
    series_count: u32,
}

impl TagIndex {
    pub(crate) fn new(tag_columns: usize) -> Self {
        Self {
            columns: (0..tag_columns)
                .map(|_| TagColumnIndex::default())
                .collect(),
            series_count: 0,
        }
    }

    /// Indexes a new series. Ids must arrive in increasing order.
    pub(crate) fn insert(&mut self, id: SeriesId, key: &SeriesKey) {
        for (column, value) in self.columns.iter_mut().zip(key.values()) {
            match value {
                Some(v) => column.values.entry(v.clone()).or_default().push(id),
                None => column.nulls.push(id),
            }
        }
        self.series_count = self.series_count.max(id.0 + 1);
    }

    /// The series matching `filter`.
    pub(crate) fn evaluate(&self, filter: &SeriesFilter) -> SeriesSet {
        match filter {
            SeriesFilter::All => (0..self.series_count).map(SeriesId).collect(),
            SeriesFilter::Tag { tag, predicate } => match self.columns.get(*tag) {
                Some(column) => column.evaluate(predicate),
                None => Vec::new(),
            },
            SeriesFilter::And(filters) => {
                let mut sets = filters.iter().map(|f| self.evaluate(f));
                let first = sets
                    .next()
                    .unwrap_or_else(|| self.evaluate(&SeriesFilter::All));
                sets.fold(first, |acc, set| intersect(&acc, &set))
            }
            SeriesFilter::Or(filters) => {
                let mut all: Vec<SeriesId> =
                    filters.iter().flat_map(|f| self.evaluate(f)).collect();
                all.sort_unstable();
                all.dedup();
                all
            }
        }
    }

    pub(crate) fn approximate_bytes(&self) -> usize {
        self.columns
            .iter()
            .map(|c| {
                c.nulls.capacity() * size_of::<SeriesId>()
                    + c.values
                        .values()
                        .map(|ids| ids.capacity() * size_of::<SeriesId>() + 48)
                        .sum::<usize>()
            })
            .sum()
    }
}

impl TagColumnIndex {
    fn evaluate(&self, predicate: &TagPredicate) -> SeriesSet {
        let union = |lists: &mut dyn Iterator<Item = &Vec<SeriesId>>| {
            let mut ids: Vec<SeriesId> = lists.flatten().copied().collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        match predicate {
            TagPredicate::Eq(v) => self.values.get(v.as_str()).cloned().unwrap_or_default(),
            TagPredicate::In(vs) => {
                union(&mut vs.iter().filter_map(|v| self.values.get(v.as_str())))
            }
            TagPredicate::NotEq(v) => union(
                &mut self
                    .values
                    .iter()
                    .filter(|(k, _)| k.as_ref() != v.as_str())
                    .map(|(_, ids)| ids),
            ),
            TagPredicate::NotIn(vs) => union(
                &mut self
                    .values
                    .iter()
                    .filter(|(k, _)| !vs.iter().any(|v| v.as_str() == k.as_ref()))
                    .map(|(_, ids)| ids),
            ),
            TagPredicate::Prefix(prefix) => union(
                &mut self
                    .values
                    .range::<str, _>((
                        std::ops::Bound::Included(prefix.as_str()),
                        std::ops::Bound::Unbounded,
                    ))
                    .take_while(|(k, _)| k.starts_with(prefix.as_str()))
                    .map(|(_, ids)| ids),
            ),
            TagPredicate::IsNull => self.nulls.clone(),
            TagPredicate::IsNotNull => union(&mut self.values.values()),
        }
    }
}

fn intersect(a: &[SeriesId], b: &[SeriesId]) -> SeriesSet {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key(values: &[Option<&str>]) -> SeriesKey {
        SeriesKey::new(values.iter().map(|v| v.map(Arc::from)).collect())
    }

    /// The trivially correct model: test every series' tag value directly.
    fn model(keys: &[SeriesKey], filter: &SeriesFilter) -> SeriesSet {
        keys.iter()
            .enumerate()
            .filter(|(_, k)| filter.matches(k))
            .map(|(i, _)| SeriesId(i as u32))
            .collect()
    }

    fn value() -> impl Strategy<Value = Option<String>> {
        prop::option::of(
            prop::sample::select(vec!["", "a", "ab", "abc", "b", "ba"]).prop_map(String::from),
        )
    }

    fn predicate() -> impl Strategy<Value = TagPredicate> {
        let s = || prop::sample::select(vec!["", "a", "ab", "b", "z"]).prop_map(String::from);
        prop_oneof![
            s().prop_map(TagPredicate::Eq),
            s().prop_map(TagPredicate::NotEq),
            prop::collection::vec(s(), 0..3).prop_map(TagPredicate::In),
            prop::collection::vec(s(), 0..3).prop_map(TagPredicate::NotIn),
            s().prop_map(TagPredicate::Prefix),
            Just(TagPredicate::IsNull),
            Just(TagPredicate::IsNotNull),
        ]
    }

    fn filter() -> impl Strategy<Value = SeriesFilter> {
        let leaf = (0usize..2, predicate())
            .prop_map(|(tag, predicate)| SeriesFilter::Tag { tag, predicate });
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(SeriesFilter::And),
                prop::collection::vec(inner, 0..3).prop_map(SeriesFilter::Or),
            ]
        })
    }

    proptest! {
        #[test]
        fn index_matches_the_model(
            rows in prop::collection::vec((value(), value()), 0..30),
            filter in filter(),
        ) {
            let mut index = TagIndex::new(2);
            let mut keys: Vec<SeriesKey> = Vec::new();
            for (a, b) in rows {
                let k = key(&[a.as_deref(), b.as_deref()]);
                if !keys.contains(&k) {
                    index.insert(SeriesId(keys.len() as u32), &k);
                    keys.push(k);
                }
            }
            prop_assert_eq!(index.evaluate(&filter), model(&keys, &filter));
        }

        #[test]
        fn every_passing_series_has_a_required_value(
            a in value(),
            b in value(),
            filter in filter(),
        ) {
            let k = key(&[a.as_deref(), b.as_deref()]);
            if let Some(required) = filter.required_values()
                && filter.matches(&k)
            {
                prop_assert!(required.iter().any(|&(tag, v)| k.value(tag) == Some(v)));
            }
        }
    }
}
