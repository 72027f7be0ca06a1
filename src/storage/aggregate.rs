//! Aggregates over a [`ReadView`] that read block statistics instead of
//! decoding where they can.
//!
//! A sealed block that lies wholly inside the scanned time range answers
//! `count`, `min`, `max` and `sum` from its statistics; only the blocks that
//! straddle the range's edges, and the heads, are decoded. Overlapping blocks
//! (late data) need no merging here: these aggregates do not depend on order.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{Float32Type, Float64Type, Int16Type, Int32Type, Int64Type};

use super::block::{SealedBlock, ValueStats};
use super::error::{Error, Result};
use super::scan::{Part, ReadView};
use super::schema::{ColumnRole, ColumnType};

/// An aggregate function the storage can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateKind {
    /// `count(*)`: rows.
    CountRows,
    /// `count(column)`: non-NULL values.
    Count,
    Min,
    Max,
    Sum,
}

/// One aggregate: a function and, except for `count(*)`, the view column
/// (an index into [`ReadView::projection`]) it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregateRequest {
    pub kind: AggregateKind,
    pub column: Option<usize>,
}

/// The result of one aggregate. `None` is SQL NULL (no input values).
#[derive(Debug, Clone, PartialEq)]
pub enum AggregateValue {
    Count(u64),
    /// Integers, and microsecond timestamps for the time column.
    Int(Option<i128>),
    Float(Option<f64>),
}

/// How much of the work statistics saved, for EXPLAIN ANALYZE.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AggregateStats {
    /// Sealed blocks answered from their statistics alone.
    pub blocks_from_stats: usize,
    /// Rows decoded (from blocks and heads) because statistics could not answer.
    pub rows_decoded: usize,
}

/// What a view column is, as far as aggregation cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Time,
    Tag(usize),
    /// `field` is the position among the table's field columns, `part` the
    /// position among the view's decoded fields.
    Field {
        field: usize,
        part: usize,
        class: Class,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Float,
    Int,
    /// Only `count` applies.
    Other,
}

/// Running state of one aggregate.
#[derive(Debug, Clone, PartialEq)]
enum Acc {
    Count(u64),
    Int {
        min: Option<i64>,
        max: Option<i64>,
        sum: i128,
        count: u64,
    },
    Float {
        /// Over non-NaN values, as block statistics keep them.
        min: Option<f64>,
        max: Option<f64>,
        sum: f64,
        nan: u64,
        count: u64,
    },
}

impl Acc {
    fn fold_int(&mut self, value: i64) {
        if let Acc::Int {
            min,
            max,
            sum,
            count,
        } = self
        {
            *min = Some(min.map_or(value, |m| m.min(value)));
            *max = Some(max.map_or(value, |m| m.max(value)));
            *sum += i128::from(value);
            *count += 1;
        }
    }

    fn fold_float(&mut self, value: f64) {
        if let Acc::Float {
            min,
            max,
            sum,
            nan,
            count,
        } = self
        {
            *count += 1;
            if value.is_nan() {
                *nan += 1;
                return;
            }
            *min = Some(min.map_or(value, |m| m.min(value)));
            *max = Some(max.map_or(value, |m| m.max(value)));
            *sum += value;
        }
    }

    /// Adds another partial of the same aggregate.
    fn merge(&mut self, other: &Acc) {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (
                Acc::Int {
                    min,
                    max,
                    sum,
                    count,
                },
                Acc::Int {
                    min: min2,
                    max: max2,
                    sum: sum2,
                    count: count2,
                },
            ) => {
                *min = merge(*min, *min2, i64::min);
                *max = merge(*max, *max2, i64::max);
                *sum += sum2;
                *count += count2;
            }
            (
                Acc::Float {
                    min,
                    max,
                    sum,
                    nan,
                    count,
                },
                Acc::Float {
                    min: min2,
                    max: max2,
                    sum: sum2,
                    nan: nan2,
                    count: count2,
                },
            ) => {
                *min = merge(*min, *min2, f64::min);
                *max = merge(*max, *max2, f64::max);
                *sum += sum2;
                *nan += nan2;
                *count += count2;
            }
            // Partials of one request always have the same shape.
            _ => {}
        }
    }

    fn finish(&self, kind: AggregateKind) -> AggregateValue {
        match (self, kind) {
            (Acc::Count(n), _) => AggregateValue::Count(*n),
            (
                Acc::Int {
                    min,
                    max,
                    sum,
                    count,
                },
                kind,
            ) => AggregateValue::Int(match kind {
                AggregateKind::Min => min.map(i128::from),
                AggregateKind::Max => max.map(i128::from),
                AggregateKind::Sum => (*count > 0).then_some(*sum),
                AggregateKind::CountRows | AggregateKind::Count => {
                    return AggregateValue::Count(*count);
                }
            }),
            (
                Acc::Float {
                    min,
                    max,
                    sum,
                    nan,
                    count,
                },
                kind,
            ) => AggregateValue::Float(match kind {
                // NaN sorts above every number (PostgreSQL and Arrow agree):
                // it is the minimum only when nothing else is there.
                AggregateKind::Min => min.or((*nan > 0).then_some(f64::NAN)),
                AggregateKind::Max if *nan > 0 => Some(f64::NAN),
                AggregateKind::Max => *max,
                AggregateKind::Sum if *count == 0 => None,
                AggregateKind::Sum if *nan > 0 => Some(f64::NAN),
                AggregateKind::Sum => Some(*sum),
                AggregateKind::CountRows | AggregateKind::Count => {
                    return AggregateValue::Count(*count);
                }
            }),
        }
    }
}

impl ReadView {
    fn source(&self, column: usize) -> Option<Source> {
        let table = self.table_schema();
        let table_column = *self.projection().get(column)?;
        let schema = table.columns().get(table_column)?;
        Some(match schema.role {
            ColumnRole::Time => Source::Time,
            ColumnRole::Tag => Source::Tag(
                table
                    .tag_indices()
                    .iter()
                    .position(|&t| t == table_column)?,
            ),
            ColumnRole::Field => {
                let field = table
                    .field_indices()
                    .iter()
                    .position(|&f| f == table_column)?;
                let part = self.field_positions.iter().position(|&f| f == field)?;
                let class = match schema.column_type {
                    ColumnType::Float64 | ColumnType::Float32 => Class::Float,
                    ColumnType::Int64 | ColumnType::Int32 | ColumnType::Int16 => Class::Int,
                    _ => Class::Other,
                };
                Source::Field { field, part, class }
            }
        })
    }

    /// Whether [`aggregate`](Self::aggregate) can answer `request`: `count`
    /// of anything; `min` and `max` of the time column and of numeric fields;
    /// `sum` of numeric fields.
    pub fn can_aggregate(&self, request: &AggregateRequest) -> bool {
        let Some(column) = request.column else {
            return request.kind == AggregateKind::CountRows;
        };
        match (request.kind, self.source(column)) {
            (_, None) | (AggregateKind::CountRows, _) => false,
            (AggregateKind::Count, Some(_)) => true,
            (AggregateKind::Min | AggregateKind::Max, Some(Source::Time)) => true,
            (_, Some(Source::Field { class, .. })) => class != Class::Other,
            _ => false,
        }
    }

    fn empty_acc(&self, request: &AggregateRequest) -> Acc {
        let int = || Acc::Int {
            min: None,
            max: None,
            sum: 0,
            count: 0,
        };
        match (request.kind, request.column.and_then(|c| self.source(c))) {
            (AggregateKind::CountRows | AggregateKind::Count, _) | (_, None) => Acc::Count(0),
            (_, Some(Source::Time)) => int(),
            (
                _,
                Some(Source::Field {
                    class: Class::Float,
                    ..
                }),
            ) => Acc::Float {
                min: None,
                max: None,
                sum: 0.0,
                nan: 0,
                count: 0,
            },
            _ => int(),
        }
    }

    /// Computes `requests` over the view, from block statistics where a block
    /// lies wholly in the time range and by decoding elsewhere.
    ///
    /// # Errors
    /// A request [`can_aggregate`](Self::can_aggregate) rejects, or a corrupt
    /// block.
    pub fn aggregate(
        &self,
        requests: &[AggregateRequest],
    ) -> Result<(Vec<AggregateValue>, AggregateStats)> {
        self.aggregate_parallel(requests, 1)
    }

    /// As [`aggregate`](Self::aggregate), spreading the pieces over up to
    /// `threads` threads.
    pub fn aggregate_parallel(
        &self,
        requests: &[AggregateRequest],
        threads: usize,
    ) -> Result<(Vec<AggregateValue>, AggregateStats)> {
        if let Some(bad) = requests.iter().find(|r| !self.can_aggregate(r)) {
            return Err(Error::Internal {
                reason: format!("storage cannot compute {bad:?}"),
            });
        }
        let threads = threads.clamp(1, self.pieces.len().max(1));
        let partials = if threads == 1 {
            vec![self.aggregate_pieces(requests, 0, 1)?]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| scope.spawn(move || self.aggregate_pieces(requests, t, threads)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().map_err(|_| Error::Internal {
                            reason: "aggregate worker panicked".into(),
                        })?
                    })
                    .collect::<Result<Vec<_>>>()
            })?
        };
        let mut partials = partials.into_iter();
        let (mut accs, mut stats) = partials.next().ok_or(Error::Internal {
            reason: "no aggregate partial".into(),
        })?;
        for (other, other_stats) in partials {
            for (acc, other) in accs.iter_mut().zip(&other) {
                acc.merge(other);
            }
            stats.blocks_from_stats += other_stats.blocks_from_stats;
            stats.rows_decoded += other_stats.rows_decoded;
        }
        let values = accs
            .iter()
            .zip(requests)
            .map(|(acc, r)| acc.finish(r.kind))
            .collect();
        Ok((values, stats))
    }

    /// Accumulates the pieces `first`, `first + step`, ...
    fn aggregate_pieces(
        &self,
        requests: &[AggregateRequest],
        first: usize,
        step: usize,
    ) -> Result<(Vec<Acc>, AggregateStats)> {
        let mut accs: Vec<Acc> = requests.iter().map(|r| self.empty_acc(r)).collect();
        // What each request reads, resolved once rather than per block.
        let sources: Vec<Option<Source>> = requests
            .iter()
            .map(|r| r.column.and_then(|c| self.source(c)))
            .collect();
        let mut stats = AggregateStats::default();
        for piece in self.pieces.iter().skip(first).step_by(step) {
            for block in &piece.blocks {
                if self.covers(block)
                    && self.fold_stats(block, piece.key.values(), &sources, &mut accs)
                {
                    stats.blocks_from_stats += 1;
                } else if let Some(part) = self.decode_block(block)? {
                    stats.rows_decoded += block.rows();
                    self.fold_part(&part, piece.key.values(), &sources, &mut accs)?;
                }
            }
            if let Some(part) = self.head_part(piece)? {
                stats.rows_decoded += part.times.len();
                self.fold_part(&part, piece.key.values(), &sources, &mut accs)?;
            }
        }
        Ok((accs, stats))
    }

    /// Whether every row of `block` is in the scan: then its statistics are
    /// the statistics of what the scan returns.
    fn covers(&self, block: &SealedBlock) -> bool {
        self.time_points.is_none()
            && block.min_time() >= self.time_range.start
            && block.max_time() <= self.time_range.end
    }

    /// Folds `block`'s statistics into `accs`, or returns false (folding
    /// nothing) when they cannot answer every request.
    fn fold_stats(
        &self,
        block: &SealedBlock,
        key: &[Option<Arc<str>>],
        sources: &[Option<Source>],
        accs: &mut [Acc],
    ) -> bool {
        let partials: Option<Vec<Acc>> = accs
            .iter()
            .zip(sources)
            .map(|(acc, &source)| stats_acc(block, key, acc, source))
            .collect();
        let Some(partials) = partials else {
            return false;
        };
        for (acc, partial) in accs.iter_mut().zip(&partials) {
            acc.merge(partial);
        }
        true
    }

    /// Folds decoded rows into `accs`.
    fn fold_part(
        &self,
        part: &Part,
        key: &[Option<Arc<str>>],
        sources: &[Option<Source>],
        accs: &mut [Acc],
    ) -> Result<()> {
        let rows = part.times.len() as u64;
        for (acc, &source) in accs.iter_mut().zip(sources) {
            match (source, &mut *acc) {
                (None, Acc::Count(n)) => *n += rows,
                (Some(Source::Time), Acc::Count(n)) => *n += rows,
                (Some(Source::Tag(t)), Acc::Count(n)) => {
                    if key.get(t).is_some_and(Option::is_some) {
                        *n += rows;
                    }
                }
                (Some(Source::Field { part: p, .. }), Acc::Count(n)) => {
                    let array = field(part, p)?;
                    *n += (array.len() - array.null_count()) as u64;
                }
                (Some(Source::Time), acc) => {
                    for &t in &part.times {
                        acc.fold_int(t);
                    }
                }
                (Some(Source::Field { part: p, .. }), acc) => fold_array(acc, field(part, p)?),
                _ => {
                    return Err(Error::Internal {
                        reason: "aggregate and column disagree".into(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The partial of one aggregate (reading `source`) over `block` alone, from
/// its statistics, in the shape of `acc`.
fn stats_acc(
    block: &SealedBlock,
    key: &[Option<Arc<str>>],
    acc: &Acc,
    source: Option<Source>,
) -> Option<Acc> {
    let rows = block.rows() as u64;
    let non_null = |field: usize| -> Option<(u64, &ValueStats)> {
        let stats = block.field_stats(field)?;
        Some((rows - stats.null_count as u64, &stats.values))
    };
    Some(match (acc, source) {
        (Acc::Count(_), None | Some(Source::Time)) => Acc::Count(rows),
        (Acc::Count(_), Some(Source::Tag(t))) => {
            Acc::Count(if key.get(t).is_some_and(Option::is_some) {
                rows
            } else {
                0
            })
        }
        (Acc::Count(_), Some(Source::Field { field, .. })) => Acc::Count(non_null(field)?.0),
        (Acc::Int { .. }, Some(Source::Time)) => Acc::Int {
            min: Some(block.min_time()),
            max: Some(block.max_time()),
            sum: 0,
            count: rows,
        },
        (Acc::Int { .. }, Some(Source::Field { field, .. })) => match non_null(field)? {
            (count, &ValueStats::Int { min, max, sum }) => Acc::Int {
                min,
                max,
                sum,
                count,
            },
            _ => return None,
        },
        (Acc::Float { .. }, Some(Source::Field { field, .. })) => match non_null(field)? {
            (
                count,
                &ValueStats::Float {
                    min,
                    max,
                    sum,
                    nan_count,
                },
            ) => Acc::Float {
                min,
                max,
                sum,
                nan: nan_count as u64,
                count,
            },
            _ => return None,
        },
        _ => return None,
    })
}

fn field(part: &Part, index: usize) -> Result<&ArrayRef> {
    part.fields.get(index).ok_or(Error::Internal {
        reason: "aggregate column was not decoded".into(),
    })
}

fn merge<T: Copy>(a: Option<T>, b: Option<T>, pick: fn(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

fn fold_array(acc: &mut Acc, array: &ArrayRef) {
    macro_rules! fold {
        ($t:ty, $fold:ident, $conv:expr) => {
            for value in array.as_primitive::<$t>().iter().flatten() {
                acc.$fold($conv(value));
            }
        };
    }
    match array.data_type() {
        arrow::datatypes::DataType::Float64 => fold!(Float64Type, fold_float, |v: f64| v),
        arrow::datatypes::DataType::Float32 => fold!(Float32Type, fold_float, f64::from),
        arrow::datatypes::DataType::Int64 => fold!(Int64Type, fold_int, |v: i64| v),
        arrow::datatypes::DataType::Int32 => fold!(Int32Type, fold_int, i64::from),
        arrow::datatypes::DataType::Int16 => fold!(Int16Type, fold_int, i64::from),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
