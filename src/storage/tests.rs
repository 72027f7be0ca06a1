use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{Float64Type, TimestampMicrosecondType};
use proptest::prelude::*;

use super::*;

pub(super) fn cpu_schema() -> TableSchema {
    let column = |name: &str, column_type, role| ColumnSchema {
        name: name.into(),
        column_type,
        role,
        nullable: true,
        max_chars: None,
        identity: None,
        default: None,
    };
    TableSchema::try_new(vec![
        column(
            "time",
            ColumnType::Timestamp {
                with_time_zone: true,
            },
            ColumnRole::Time,
        ),
        column("host", ColumnType::Utf8, ColumnRole::Tag),
        column("v", ColumnType::Float64, ColumnRole::Field),
    ])
    .unwrap()
}

fn batch(table: &Table, rows: &[(i64, Option<&str>, Option<f64>)]) -> RecordBatch {
    let times = TimestampMicrosecondArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>());
    let columns: Vec<ArrayRef> = vec![
        Arc::new(times.with_timezone("UTC")),
        Arc::new(rows.iter().map(|r| r.1).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.2).collect::<Float64Array>()),
    ];
    RecordBatch::try_new(table.arrow_schema().clone(), columns).unwrap()
}

/// Flattens a scan into (host, time, value) rows, checking per-series time order.
fn rows(batches: &[RecordBatch]) -> Vec<(Option<String>, i64, Option<u64>)> {
    let mut out = Vec::new();
    for b in batches {
        let times = b.column(0).as_primitive::<TimestampMicrosecondType>();
        let hosts = b.column(1).as_string::<i32>();
        let values = b.column(2).as_primitive::<Float64Type>();
        assert!(
            times.values().windows(2).all(|w| w[0] <= w[1]),
            "series out of order"
        );
        for i in 0..b.num_rows() {
            out.push((
                hosts.is_valid(i).then(|| hosts.value(i).to_owned()),
                times.value(i),
                values.is_valid(i).then(|| values.value(i).to_bits()),
            ));
        }
    }
    out
}

#[test]
fn groups_rows_into_series_and_projects() {
    let table = Table::new("cpu".into(), cpu_schema(), TableOptions::default());
    let b = batch(
        &table,
        &[
            (20, Some("a"), Some(2.0)),
            (10, Some("a"), None),
            (5, None, Some(1.5)),
        ],
    );
    assert_eq!(table.write(&[b]).unwrap().without_waiting(), 3);
    assert_eq!(table.series_count(), 2);
    let scanned = table.scan(Some(&[2, 1])).unwrap();
    assert_eq!(scanned.len(), 2);
    assert_eq!(scanned[0].schema().field(0).name(), "v");
    assert_eq!(scanned[0].num_rows(), 2);
    let first = scanned[0].column(0).as_primitive::<Float64Type>();
    assert!(first.is_null(0));
    assert_eq!(first.value(1), 2.0);
}

#[test]
fn writes_of_known_series_are_checked_whole() {
    let table = Table::new("cpu".into(), cpu_schema(), TableOptions::default());
    let a = table.series(&[Some("a")]).unwrap();
    assert_eq!(table.series(&[Some("a")]).unwrap(), a);
    assert_ne!(table.series(&[None]).unwrap(), a);
    assert!(table.series(&[]).is_err());
    let b = batch(&table, &[(1, Some("a"), Some(1.0)), (2, Some("a"), None)]);
    let time = b.column(0).clone();
    let fields = vec![b.column(2).clone()];
    // An unknown series, a wrong field count or type, a NULL time.
    assert!(
        table
            .write_series(vec![a, SeriesId(9)], Some(time.clone()), fields.clone())
            .is_err()
    );
    assert!(
        table
            .write_series(vec![a, a], Some(time.clone()), vec![])
            .is_err()
    );
    assert!(
        table
            .write_series(vec![a, a], Some(b.column(1).clone()), fields.clone())
            .is_err()
    );
    let null_time: ArrayRef =
        Arc::new(TimestampMicrosecondArray::from(vec![Some(1), None]).with_timezone("UTC"));
    assert!(matches!(
        table.write_series(vec![a, a], Some(null_time), fields.clone()),
        Err(Error::NotNullViolation { column, .. }) if column == "time"
    ));
    assert!(table.usage().iter().all(|c| c.rows == 0));
    assert_eq!(
        table.write_series(vec![a, a], Some(time), fields).unwrap(),
        2
    );
    assert_eq!(rows(&table.scan(None).unwrap()).len(), 2);
}

#[test]
fn null_time_is_rejected_and_nothing_is_applied() {
    let table = Table::new("cpu".into(), cpu_schema(), TableOptions::default());
    let times = TimestampMicrosecondArray::from(vec![Some(1), None]).with_timezone("UTC");
    let columns: Vec<ArrayRef> = vec![
        Arc::new(times),
        Arc::new(StringArray::from(vec![Some("a"), Some("b")])),
        Arc::new(Float64Array::from(vec![Some(1.0), Some(2.0)])),
    ];
    let schema = Arc::new(
        table
            .arrow_schema()
            .as_ref()
            .clone()
            .with_metadata(Default::default()),
    );
    // The table's own schema forbids the NULL, so build the batch unchecked.
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let b = RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns).unwrap();
    assert!(matches!(
        table.write(&[b]),
        Err(Error::NotNullViolation { column, .. }) if column == "time"
    ));
    assert!(table.usage().iter().all(|c| c.rows == 0));
}

#[test]
fn catalog_objects_follow_postgres_rules() {
    let storage = Storage::new();
    assert!(storage.database(DEFAULT_DATABASE).is_some());
    assert!(matches!(
        storage.drop_database(DEFAULT_DATABASE, false),
        Err(Error::DatabaseProtected { .. })
    ));
    assert!(
        storage
            .create_database("metrics", false)
            .unwrap()
            .without_waiting()
    );
    assert!(
        !storage
            .create_database("metrics", true)
            .unwrap()
            .without_waiting()
    );
    let db = storage.database("metrics").unwrap();
    assert!(db.create_schema("s", false).unwrap().without_waiting());
    let ns = db.schema("s").unwrap();
    assert!(
        ns.create_table("cpu", cpu_schema(), TableOptions::default(), false)
            .unwrap()
            .without_waiting()
    );
    assert!(matches!(
        ns.create_table("cpu", cpu_schema(), TableOptions::default(), false),
        Err(Error::TableExists { .. })
    ));
    assert!(matches!(
        db.drop_schema("s", false, false),
        Err(Error::SchemaNotEmpty { .. })
    ));
    assert!(db.drop_schema("s", false, true).unwrap().without_waiting());
    assert!(
        storage
            .drop_database("metrics", false)
            .unwrap()
            .without_waiting()
    );
    assert!(
        !storage
            .drop_database("metrics", true)
            .unwrap()
            .without_waiting()
    );
}

#[test]
fn concurrent_writers_and_readers_see_whole_batches() {
    let table = Arc::new(Table::new(
        "cpu".into(),
        cpu_schema(),
        TableOptions::default(),
    ));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let table = table.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let host = format!("h{w}");
                    let b = batch(
                        &table,
                        &[(i, Some(&host), Some(1.0)), (i, Some("shared"), None)],
                    );
                    table.write(&[b]).unwrap().without_waiting();
                }
            })
        })
        .collect();
    let reader = {
        let table = table.clone();
        std::thread::spawn(move || {
            for _ in 0..50 {
                let n: usize = table.scan(None).unwrap().iter().map(|b| b.num_rows()).sum();
                assert_eq!(n % 2, 0, "a scan saw half a batch");
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    reader.join().unwrap();
    assert_eq!(table.usage()[0].rows, 1600);
    assert_eq!(table.series_count(), 5);
}

fn small_blocks() -> TableOptions {
    TableOptions {
        shard_interval: 16,
        block_size: 4,
    }
}

#[test]
fn full_heads_seal_and_closed_shards_seal_and_usage_counts_them() {
    let table = Table::new("cpu".into(), cpu_schema(), small_blocks());
    let points: Vec<_> = (0..10).map(|t| (t, Some("a"), Some(t as f64))).collect();
    table
        .write(&[batch(&table, &points)])
        .unwrap()
        .without_waiting();
    let usage = table.usage();
    assert_eq!(usage[0].rows, 10);
    assert_eq!(usage[0].sealed_blocks, 2);
    assert_eq!(usage[0].head_rows, 2);
    // A point in the next shard closes the first one: its head is sealed.
    table
        .write(&[batch(&table, &[(20, Some("a"), None)])])
        .unwrap()
        .without_waiting();
    let usage = table.usage();
    assert_eq!(usage[2].sealed_blocks, 3);
    assert_eq!(usage[2].head_rows, 1);
    assert!(usage.iter().all(|c| c.bytes > 0), "{usage:?}");
}

#[test]
fn a_snapshot_keeps_its_heads_as_they_were() {
    let table = Table::new("cpu".into(), cpu_schema(), TableOptions::default());
    let write = |points: &[(i64, Option<&str>, Option<f64>)]| {
        table
            .write(&[batch(&table, points)])
            .unwrap()
            .without_waiting();
    };
    write(&[(2, Some("a"), Some(2.0)), (1, Some("a"), None)]);
    let view = table.snapshot(&ScanRequest::default()).unwrap();
    // Later writes to the same head, in and out of order, are not seen.
    write(&[(3, Some("a"), Some(3.0)), (0, Some("a"), Some(0.0))]);
    assert_eq!(view.len(), 1);
    let a = Some("a".to_owned());
    assert_eq!(
        rows(&[view.decode(0).unwrap().unwrap()]),
        vec![(a.clone(), 1, None), (a.clone(), 2, Some(2f64.to_bits()))]
    );
    assert_eq!(
        rows(&[view.decode_latest(0).unwrap().0.unwrap()]),
        vec![(a.clone(), 2, Some(2f64.to_bits()))]
    );
    assert_eq!(rows(&table.scan(None).unwrap()).len(), 4);
}

#[test]
fn snapshots_prune_by_time_series_and_value_statistics() {
    let table = Table::new("cpu".into(), cpu_schema(), small_blocks());
    let mut points = Vec::new();
    for t in 0..64 {
        points.push((t, Some("a"), Some(t as f64)));
        points.push((t, Some("b"), Some(-(t as f64))));
    }
    table
        .write(&[batch(&table, &points)])
        .unwrap()
        .without_waiting();
    let request = ScanRequest {
        time_range: TimeRange { start: 5, end: 6 },
        series: SeriesFilter::Tag {
            tag: 0,
            predicate: TagPredicate::Eq("a".into()),
        },
        ..ScanRequest::default()
    };
    let view = table.snapshot(&request).unwrap();
    assert_eq!(view.stats.series_matched, 1);
    // Shard 0 holds blocks [0..4) [4..8) [8..12) [12..16): one is needed.
    assert_eq!(view.stats.blocks_total, 4);
    assert_eq!(view.stats.blocks_skipped, 3);
    let got: Vec<_> = (0..view.len())
        .filter_map(|i| view.decode(i).unwrap())
        .flat_map(|b| rows(&[b]))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some("a".into()), 5, Some(5f64.to_bits())),
            (Some("a".into()), 6, Some(6f64.to_bits()))
        ]
    );
    assert_eq!(
        view.stats
            .rows_decoded
            .load(std::sync::atomic::Ordering::Relaxed),
        4
    );
    // Value bounds skip blocks whose min/max cannot match.
    let request = ScanRequest {
        field_bounds: vec![FieldBound {
            column: 2,
            min: Some(60.0),
            max: None,
        }],
        ..ScanRequest::default()
    };
    let view = table.snapshot(&request).unwrap();
    assert_eq!(view.stats.blocks_total, 32);
    assert_eq!(view.stats.blocks_skipped, 31);
}

proptest! {
    /// The table returns exactly what a trivially correct model holds: every row
    /// written, grouped by series, each series in time order with ties in
    /// arrival order, restricted to the requested time range and series. Tiny
    /// blocks and shards make sealing, shard closing and late data frequent.
    /// Some writes go through a staging table and `absorb`, as COPY does.
    #[test]
    fn scans_match_a_btreemap_model(
        writes in prop::collection::vec(
            (
                any::<bool>(),
                prop::collection::vec(
                    (-50i64..50, prop::option::of(0u8..3), prop::option::of(any::<f64>())),
                    0..20,
                ),
            ),
            0..10,
        ),
        start in -60i64..60,
        len in 0i64..80,
        host in prop::option::of(0u8..3),
    ) {
        let table = Table::new("cpu".into(), cpu_schema(), small_blocks());
        // (host, time, arrival) -> value bits
        let mut model = BTreeMap::new();
        let mut arrival = 0u64;
        for (staged, write) in &writes {
            let hosts: Vec<Option<String>> =
                write.iter().map(|r| r.1.map(|h| format!("h{h}"))).collect();
            let points: Vec<_> = write
                .iter()
                .zip(&hosts)
                .map(|(r, h)| (r.0, h.as_deref(), r.2))
                .collect();
            if *staged {
                let staging = table.staging();
                // In two writes, as COPY stages a batch at a time: the
                // second with its series looked up first, as COPY does.
                let (first, second) = points.split_at(points.len() / 2);
                staging.write(&[batch(&table, first)]).unwrap().without_waiting();
                let second = batch(&table, second);
                let hosts = second.column(1).as_string::<i32>();
                let ids = (0..second.num_rows())
                    .map(|r| staging.series(&[hosts.is_valid(r).then(|| hosts.value(r))]).unwrap())
                    .collect();
                let fields = vec![second.column(2).clone()];
                prop_assert_eq!(
                    staging.write_series(ids, Some(second.column(0).clone()), fields).unwrap(),
                    second.num_rows()
                );
                prop_assert_eq!(table.absorb(staging).unwrap().without_waiting(), points.len());
            } else {
                table.write(&[batch(&table, &points)]).unwrap().without_waiting();
            }
            for (r, h) in write.iter().zip(hosts) {
                model.insert((h, r.0, arrival), r.2.map(f64::to_bits));
                arrival += 1;
            }
            let mut got = rows(&table.scan(None).unwrap());
            got.sort_by(|a, b| a.0.cmp(&b.0)); // series order is not specified; time order within is
            let want: Vec<_> = model.iter().map(|((h, t, _), v)| (h.clone(), *t, *v)).collect();
            prop_assert_eq!(got, want);
        }
        let host = host.map(|h| format!("h{h}"));
        let request = ScanRequest {
            time_range: TimeRange { start, end: start + len },
            series: match &host {
                Some(h) => SeriesFilter::Tag { tag: 0, predicate: TagPredicate::Eq(h.clone()) },
                None => SeriesFilter::All,
            },
            ..ScanRequest::default()
        };
        let view = table.snapshot(&request).unwrap();
        let batches: Vec<_> = (0..view.len()).filter_map(|i| view.decode(i).unwrap()).collect();
        let mut got = rows(&batches);
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let want: Vec<_> = model
            .iter()
            .filter(|((h, t, _), _)| *t >= start && *t <= start + len && (host.is_none() || *h == host))
            .map(|((h, t, _), v)| (h.clone(), *t, *v))
            .collect();
        prop_assert_eq!(got, want);
        // The newest row of each piece is the last row of its whole decoding
        // (of rows at that same time, any one).
        let key = |r: &(Option<String>, i64, Option<u64>)| (r.0.clone(), r.1);
        for i in 0..view.len() {
            let whole = view.decode(i).unwrap().map(|b| rows(&[b]));
            let newest = view.decode_latest(i).unwrap().0.map(|b| rows(&[b]));
            prop_assert_eq!(
                newest.map(|r| r.iter().map(key).collect::<Vec<_>>()),
                whole.and_then(|r| r.last().map(key)).map(|k| vec![k])
            );
        }
        // All series at once: each one's newest row, from its newest piece
        // with rows, in series order.
        let mut runs: Vec<Vec<usize>> = Vec::new();
        for i in 0..view.len() {
            match runs.last_mut() {
                Some(run) if view.series(run[0]) == view.series(i) => run.push(i),
                _ => runs.push(vec![i]),
            }
        }
        let want: Vec<_> = runs
            .iter()
            .filter_map(|run| {
                let newest = run.iter().rev().find_map(|&i| view.decode(i).unwrap())?;
                rows(&[newest]).last().map(key)
            })
            .collect();
        let runs: Vec<&[usize]> = runs.iter().map(Vec::as_slice).collect();
        let got = view
            .decode_latest_runs(&runs)
            .unwrap()
            .0
            .map(|b| {
                // One row per series: not in time order, so row by row.
                let each: Vec<_> = (0..b.num_rows()).map(|r| b.slice(r, 1)).collect();
                rows(&each).iter().map(key).collect::<Vec<_>>()
            })
            .unwrap_or_default();
        prop_assert_eq!(got, want);
    }
}
