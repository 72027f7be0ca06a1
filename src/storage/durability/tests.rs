//! Recovery against a model: what storage holds after a crash and a restart
//! is exactly a prefix of the writes, holding every acknowledged one.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::TimestampMicrosecondArray;
use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use proptest::prelude::*;

use super::*;
use crate::storage::{
    ColumnRole, ColumnSchema, ColumnType, Durable, Index, IndexColumn, Region, RowPredicate,
    SeriesFilter, TableOptions, TagPredicate, TimeRange,
};
use crate::wal::tests::{MemFs, SharedMemFs};
use crate::wal::{OnCorruption, SyncMode};

fn options(fs: &SharedMemFs) -> DurabilityOptions {
    DurabilityOptions {
        dir: PathBuf::from("/data"),
        fs: Arc::new(fs.clone()),
        mode: SyncMode::Sync,
        segment_size: 4096,
        on_corruption: OnCorruption::Fail,
    }
}

fn schema() -> TableSchema {
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
        ColumnSchema {
            nullable: false,
            ..column(
                "time",
                ColumnType::Timestamp {
                    with_time_zone: true,
                },
                ColumnRole::Time,
            )
        },
        column("host", ColumnType::Utf8, ColumnRole::Tag),
        column("v", ColumnType::Float64, ColumnRole::Field),
        column("w", ColumnType::Int64, ColumnRole::Field),
    ])
    .unwrap()
}

/// One write: rows of (time, host, v), all tagged with the write's number.
type Write = Vec<(i64, Option<String>, Option<f64>)>;

fn batch(table: &Table, write: usize, rows: &Write) -> RecordBatch {
    let times = TimestampMicrosecondArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>());
    let columns: Vec<ArrayRef> = vec![
        Arc::new(times.with_timezone("UTC")),
        Arc::new(rows.iter().map(|r| r.1.as_deref()).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.2).collect::<Float64Array>()),
        Arc::new(Int64Array::from(vec![write as i64; rows.len()])),
    ];
    RecordBatch::try_new(table.arrow_schema().clone(), columns).unwrap()
}

type Row = (i64, i64, Option<String>, Option<u64>);

fn contents(table: &Table) -> Vec<Row> {
    let mut out = Vec::new();
    for b in table.scan(None).unwrap() {
        let times = b.column(0).as_primitive::<TimestampMicrosecondType>();
        let hosts = b.column(1).as_string::<i32>();
        let values = b.column(2).as_primitive::<Float64Type>();
        let writes = b.column(3).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            out.push((
                writes.value(i),
                times.value(i),
                hosts.is_valid(i).then(|| hosts.value(i).to_owned()),
                values.is_valid(i).then(|| values.value(i).to_bits()),
            ));
        }
    }
    out.sort();
    out
}

fn model(writes: &[Write]) -> Vec<Row> {
    let mut out: Vec<Row> = writes
        .iter()
        .enumerate()
        .flat_map(|(w, rows)| {
            rows.iter()
                .map(move |r| (w as i64, r.0, r.1.clone(), r.2.map(f64::to_bits)))
        })
        .collect();
    out.sort();
    out
}

/// A nullable field column without a default.
fn field(name: &str, column_type: ColumnType) -> ColumnSchema {
    ColumnSchema {
        name: name.into(),
        column_type,
        role: ColumnRole::Field,
        nullable: true,
        max_chars: None,
        identity: None,
        default: None,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn table_of(storage: &Storage) -> Arc<Table> {
    storage
        .database("metrics")
        .and_then(|db| db.schema("m"))
        .and_then(|ns| ns.table("cpu"))
        .expect("table recovered")
}

fn create(storage: &Storage, rt: &tokio::runtime::Runtime) -> Arc<Table> {
    rt.block_on(storage.create_database("metrics", false).unwrap().durable())
        .unwrap();
    let db = storage.database("metrics").unwrap();
    rt.block_on(db.create_schema("m", false).unwrap().durable())
        .unwrap();
    let ns = db.schema("m").unwrap();
    let small = TableOptions {
        shard_interval: 1_000,
        block_size: 4,
    };
    rt.block_on(
        ns.create_table("cpu", schema(), small, false)
            .unwrap()
            .durable(),
    )
    .unwrap();
    table_of(storage)
}

/// Applies write `i`, through `write` or as a staged copy, alternately.
fn apply(table: &Table, i: usize, rows: &Write) -> Durable<usize> {
    let batch = batch(table, i, rows);
    if i.is_multiple_of(2) {
        table.write(&[batch]).unwrap()
    } else {
        let staging = table.staging();
        staging.write(&[batch]).unwrap().without_waiting();
        table.absorb(staging).unwrap()
    }
}

#[test]
fn a_clean_restart_rebuilds_catalog_and_data() {
    let mem = Arc::new(MemFs::default());
    let fs = SharedMemFs(mem.clone());
    let rt = runtime();
    let writes: Vec<Write> = (0..20)
        .map(|w| {
            (0..7)
                .map(|r| {
                    let host = ["a", "b", "c"][(w + r) % 3].to_owned();
                    (
                        ((w * 7 + r) * 97 % 3000) as i64,
                        Some(host),
                        Some(r as f64 / 4.0),
                    )
                })
                .collect()
        })
        .collect();
    {
        let (storage, recovery) = Storage::open(&options(&fs)).unwrap();
        assert_eq!(recovery.snapshot_lsn, None);
        let table = create(&storage, &rt);
        for (i, rows) in writes.iter().enumerate() {
            rt.block_on(apply(&table, i, rows).durable()).unwrap();
            if i == 9 {
                let report = storage.snapshot().unwrap().unwrap();
                assert_eq!(report.rows, 70);
            }
        }
        // A table that is dropped, and a schema dropped with `public`.
        let db = storage.database("metrics").unwrap();
        let ns = db.schema("m").unwrap();
        let _ = ns
            .create_table("gone", schema(), TableOptions::default(), false)
            .unwrap();
        let _ = ns.drop_table("gone", false).unwrap();
        let _ = db.drop_schema("public", false, true).unwrap();
        storage.close().unwrap();
    }
    let (storage, recovery) = Storage::open(&options(&fs)).unwrap();
    assert!(recovery.snapshot_lsn.is_some());
    assert!(recovery.wal_records > 0);
    let table = table_of(&storage);
    assert_eq!(contents(&table), model(&writes));
    let db = storage.database("metrics").unwrap();
    assert_eq!(db.schema_names(), vec!["m".to_owned()]);
    assert!(db.schema("m").unwrap().table("gone").is_none());

    // A snapshot of the recovered state, and a third start from it alone.
    storage.snapshot().unwrap().unwrap();
    storage.close().unwrap();
    drop(storage);
    let (storage, recovery) = Storage::open(&options(&fs)).unwrap();
    assert_eq!(recovery.wal_records, 0);
    assert_eq!(contents(&table_of(&storage)), model(&writes));
    // New tables get new ids: a write to it is not mistaken for another's.
    let ns = storage.database("metrics").unwrap().schema("m").unwrap();
    let _ = ns
        .create_table("other", schema(), TableOptions::default(), false)
        .unwrap();
    assert_ne!(ns.table("other").unwrap().id(), table_of(&storage).id());
}

/// Roles and every object's ACL, as one comparable value.
fn access_state(storage: &Storage) -> Vec<String> {
    let mut state: Vec<String> = storage.roles().iter().map(|r| format!("{r:?}")).collect();
    for name in storage.database_names() {
        let db = storage.database(&name).unwrap();
        state.push(format!("db {name} {:?}", db.acl()));
        for schema in db.schema_names() {
            let ns = db.schema(&schema).unwrap();
            state.push(format!("schema {name}.{schema} {:?}", ns.acl()));
            for table in ns.table_names() {
                let acl = ns.table(&table).unwrap().acl();
                state.push(format!("table {name}.{schema}.{table} {acl:?}"));
            }
        }
    }
    state
}

#[test]
fn roles_and_privileges_survive_snapshots_and_replay() {
    use crate::storage::{Grantable, PUBLIC, Privileges, RoleChange};
    let mem = Arc::new(MemFs::default());
    let fs = SharedMemFs(mem.clone());
    let rt = runtime();
    let expected = {
        let (storage, _) = Storage::open(&options(&fs)).unwrap();
        let table = create(&storage, &rt);
        let wait = |d: Durable<()>| rt.block_on(d.durable()).unwrap();
        let login = |password: &str| RoleChange {
            superuser: None,
            login: Some(true),
            password: Some(Some(password.into())),
        };
        wait(storage.create_role("alice", login("md5aaaa")).unwrap());
        wait(storage.create_role("bob", RoleChange::default()).unwrap());
        let db = storage.database("metrics").unwrap();
        let grant = |grantee: &str, object: Grantable, update: fn(Privileges) -> Privileges| {
            for change in storage
                .update_privileges(grantee, &[object], update)
                .unwrap()
            {
                rt.block_on(change.durable()).unwrap();
            }
        };
        grant(PUBLIC, Grantable::Database(db.clone()), |p| {
            p.without(Privileges::CONNECT)
        });
        grant("alice", Grantable::Database(db.clone()), |p| {
            p.union(Privileges::CONNECT)
        });
        grant("alice", Grantable::Table(table.clone()), |_| {
            Privileges::SELECT.union(Privileges::INSERT)
        });
        // Half before the snapshot, half after it, in the WAL only.
        storage.snapshot().unwrap().unwrap();
        let ns = db.schema("m").unwrap();
        grant("bob", Grantable::Schema(ns), |p| p.union(Privileges::USAGE));
        grant("alice", Grantable::Table(table.clone()), |p| {
            p.without(Privileges::INSERT)
        });
        wait(
            storage
                .alter_role(
                    "bob",
                    RoleChange {
                        superuser: Some(true),
                        ..login("md5bbbb")
                    },
                )
                .unwrap(),
        );
        wait(storage.create_role("carol", RoleChange::default()).unwrap());
        wait(storage.drop_roles(&["carol".into()], false).unwrap());
        // All or none: carol2 stays, since alice may not be dropped.
        wait(
            storage
                .create_role("carol2", RoleChange::default())
                .unwrap(),
        );
        assert!(matches!(
            storage.drop_roles(&["carol2".into(), "alice".into()], false),
            Err(Error::RoleInUse { .. })
        ));
        assert!(storage.role("carol2").is_some());
        assert!(matches!(
            storage.update_privileges("carol", &[], |p| p),
            Err(Error::RoleNotFound { .. })
        ));
        access_state(&storage)
    };
    let (storage, _) = Storage::open(&options(&fs)).unwrap();
    assert_eq!(access_state(&storage), expected);
    assert!(storage.role("carol").is_none());
    let bob = storage.role("bob").unwrap();
    assert!(bob.superuser && bob.login && bob.password.as_deref() == Some("md5bbbb"));
    // And once more from a snapshot holding all of it.
    storage.snapshot().unwrap().unwrap();
    drop(storage);
    let (storage, _) = Storage::open(&options(&fs)).unwrap();
    assert_eq!(access_state(&storage), expected);
    // A new role after recovery gets a fresh OID.
    let oids: Vec<u32> = storage.roles().iter().map(|r| r.oid).collect();
    rt.block_on(
        storage
            .create_role("dave", RoleChange::default())
            .unwrap()
            .durable(),
    )
    .unwrap();
    assert!(!oids.contains(&storage.role("dave").unwrap().oid));
}

#[test]
fn a_damaged_snapshot_refuses_to_start_and_names_the_file() {
    let mem = Arc::new(MemFs::default());
    let fs = SharedMemFs(mem.clone());
    let rt = runtime();
    {
        let (storage, _) = Storage::open(&options(&fs)).unwrap();
        let table = create(&storage, &rt);
        let rows: Write = (0..50)
            .map(|t| (t, Some("a".to_owned()), Some(1.5)))
            .collect();
        rt.block_on(apply(&table, 0, &rows).durable()).unwrap();
        storage.snapshot().unwrap().unwrap();
        storage.close().unwrap();
    }
    let name = mem.flip_byte("snapshot-", 100);
    let error = Storage::open(&options(&fs)).expect_err("a damaged snapshot is refused");
    let message = error.to_string();
    assert!(message.contains(&name), "{message}");
    assert!(message.contains("damaged"), "{message}");
}

fn arb_write() -> impl Strategy<Value = Write> {
    prop::collection::vec(
        (
            0i64..5_000,
            prop::option::of(prop::sample::select(vec!["a", "b", "c", "d"])),
            prop::option::of(prop_oneof![any::<f64>(), Just(f64::NAN)]),
        )
            .prop_map(|(t, h, v)| (t, h.map(str::to_owned), v)),
        1..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// After a crash at any point, with snapshots at any points, recovery
    /// yields exactly the first k writes, for some k at least the number
    /// acknowledged; and a second crash-free restart agrees.
    #[test]
    fn recovery_yields_a_prefix_holding_every_acknowledged_write(
        writes in prop::collection::vec(arb_write(), 1..16),
        acknowledged in 0usize..16,
        snapshots in prop::collection::vec(any::<bool>(), 16),
        keep in any::<prop::sample::Index>(),
    ) {
        let acknowledged = acknowledged.min(writes.len());
        let recovered = crash_and_recover(
            writes.len(),
            acknowledged,
            &snapshots,
            &keep,
            |table, i| apply(table, i, &writes[i]),
            |_, _, _| Ok(()),
        )?;
        let k = (acknowledged..=writes.len()).find(|&k| model(&writes[..k]) == recovered);
        prop_assert!(k.is_some(), "recovered {} rows, not a prefix of {} writes holding the first {}",
            recovered.len(), writes.len(), acknowledged);
    }
}

/// Runs `count` operations (`step` applies one) on a fresh `cpu` table,
/// waiting for the first `acknowledged` to be durable, taking a snapshot
/// after those `snapshots` marks and calling `check` after each with the
/// count its ticket gave. Then crashes, keeping some unsynced bytes, and
/// returns what a restart recovers, once a second restart agrees.
fn crash_and_recover(
    count: usize,
    acknowledged: usize,
    snapshots: &[bool],
    keep: &prop::sample::Index,
    mut step: impl FnMut(&Table, usize) -> Durable<usize>,
    mut check: impl FnMut(&Table, usize, usize) -> std::result::Result<(), TestCaseError>,
) -> std::result::Result<Vec<Row>, TestCaseError> {
    let mem = Arc::new(MemFs::default());
    let fs = SharedMemFs(mem.clone());
    let rt = runtime();
    {
        let (storage, _) = Storage::open(&options(&fs)).unwrap();
        let table = create(&storage, &rt);
        for (i, &snapshot) in snapshots.iter().enumerate().take(count) {
            let durable = step(&table, i);
            let rows = if i < acknowledged {
                rt.block_on(durable.durable()).unwrap()
            } else {
                durable.without_waiting()
            };
            check(&table, i, rows)?;
            if snapshot {
                storage.snapshot().unwrap();
            }
        }
        mem.crash(|unsynced| keep.index(unsynced + 1));
        drop(storage);
        mem.restart();
    }
    let (storage, _) = Storage::open(&options(&fs)).unwrap();
    let recovered = contents(&table_of(&storage));
    storage.close().unwrap();
    drop(storage);
    let (storage, _) = Storage::open(&options(&fs)).unwrap();
    prop_assert_eq!(contents(&table_of(&storage)), recovered.clone());
    Ok(recovered)
}

/// A change to the plain table `devices (id BIGINT PRIMARY KEY, version
/// BIGINT)`: rows inserted, deleted by id, or one row's id changed.
#[derive(Debug, Clone)]
enum PlainOp {
    Insert(Vec<i64>),
    Delete(Vec<i64>),
    Update { from: i64, to: i64 },
}

fn arb_plain_op() -> impl Strategy<Value = PlainOp> {
    let ids = || prop::collection::vec(0i64..12, 1..5);
    prop_oneof![
        ids().prop_map(PlainOp::Insert),
        ids().prop_map(PlainOp::Delete),
        (0i64..12, 0i64..12).prop_map(|(from, to)| PlainOp::Update { from, to }),
    ]
}

fn plain_table(storage: &Storage, rt: &tokio::runtime::Runtime) -> Arc<Table> {
    let schema = TableSchema::try_new(vec![
        field("id", ColumnType::Int64),
        field("version", ColumnType::Int64),
    ])
    .unwrap()
    .with_constraints(vec![crate::storage::UniqueConstraint {
        name: "devices_pkey".into(),
        columns: vec![0],
        primary: true,
    }])
    .unwrap();
    create_public(storage, rt, "devices", schema)
}

/// Table `name` of `postgres.public`, created with small blocks.
fn create_public(
    storage: &Storage,
    rt: &tokio::runtime::Runtime,
    name: &str,
    schema: TableSchema,
) -> Arc<Table> {
    let small = TableOptions {
        shard_interval: 1_000_000,
        block_size: 4,
    };
    let ns = storage
        .database("postgres")
        .unwrap()
        .schema("public")
        .unwrap();
    rt.block_on(
        ns.create_table(name, schema, small, false)
            .unwrap()
            .durable(),
    )
    .unwrap();
    public_table(storage, name)
}

fn public_table(storage: &Storage, name: &str) -> Arc<Table> {
    (storage.database("postgres"))
        .and_then(|db| db.schema("public"))
        .and_then(|ns| ns.table(name))
        .expect("table recovered")
}

fn plain_of(storage: &Storage) -> Arc<Table> {
    public_table(storage, "devices")
}

/// The rows, in row order, as (id, version).
fn plain_contents(table: &Table) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for (batch, _) in table.numbered_rows(None).unwrap() {
        let ids = batch.column(0).as_primitive::<Int64Type>();
        let versions = batch.column(1).as_primitive::<Int64Type>();
        out.extend((0..batch.num_rows()).map(|i| (ids.value(i), versions.value(i))));
    }
    out
}

fn plain_batch(table: &Table, rows: &[(i64, i64)]) -> RecordBatch {
    let ids = Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>());
    let versions = Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>());
    RecordBatch::try_new(
        table.arrow_schema().clone(),
        vec![Arc::new(ids) as ArrayRef, Arc::new(versions)],
    )
    .unwrap()
}

/// Applies `op` to the table and to `model`, which follows PostgreSQL's
/// rules: a statement that breaks the key changes nothing.
fn apply_plain(table: &Table, model: &mut Vec<(i64, i64)>, op: &PlainOp) -> Option<Durable<usize>> {
    let numbered: Vec<(i64, i64, i64)> = table
        .numbered_rows(None)
        .unwrap()
        .into_iter()
        .flat_map(|(batch, numbers)| {
            let ids = batch.column(0).as_primitive::<Int64Type>().clone();
            let versions = batch.column(1).as_primitive::<Int64Type>().clone();
            (0..numbers.len())
                .map(|i| (numbers[i], ids.value(i), versions.value(i)))
                .collect::<Vec<_>>()
        })
        .collect();
    let staging = table.staging();
    type Rows = Vec<(i64, i64)>;
    let (removed, added, next): (Vec<i64>, Rows, Rows) = match op {
        PlainOp::Insert(ids) => {
            let added: Vec<(i64, i64)> = ids.iter().map(|&id| (id, 0)).collect();
            let mut next = model.clone();
            next.extend(&added);
            (Vec::new(), added, next)
        }
        PlainOp::Delete(ids) => {
            let removed = (numbered.iter().filter(|r| ids.contains(&r.1)))
                .map(|r| r.0)
                .collect();
            let next = model
                .iter()
                .filter(|r| !ids.contains(&r.0))
                .copied()
                .collect();
            (removed, Vec::new(), next)
        }
        PlainOp::Update { from, to } => {
            let hit: Vec<_> = numbered.iter().filter(|r| r.1 == *from).collect();
            let added: Vec<(i64, i64)> = hit.iter().map(|r| (*to, r.2 + 1)).collect();
            let mut next: Vec<(i64, i64)> =
                model.iter().filter(|r| r.0 != *from).copied().collect();
            next.extend(&added);
            (hit.iter().map(|r| r.0).collect(), added, next)
        }
    };
    let mut seen = std::collections::HashSet::new();
    let valid = next.iter().all(|r| seen.insert(r.0));
    // The new rows are checked among themselves as they are staged.
    let result = staging
        .write(&[plain_batch(table, &added)])
        .map(Durable::without_waiting)
        .and_then(|_| {
            if matches!(op, PlainOp::Insert(_)) {
                table.absorb(staging)
            } else {
                table.replace_rows(removed, staging, true)
            }
        });
    match result {
        Ok(durable) => {
            assert!(valid, "{op:?} broke the key of {model:?}");
            *model = next;
            Some(durable)
        }
        Err(Error::UniqueViolation { .. }) => {
            assert!(!valid, "{op:?} refused on {model:?}");
            None
        }
        Err(other) => panic!("{op:?}: {other}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Inserts, deletes and updates of a keyed plain table, with snapshots
    /// and a crash anywhere: recovery yields the rows after some prefix of
    /// the changes holding every acknowledged one, in row order, and keeps
    /// enforcing the key.
    #[test]
    fn plain_table_changes_recover_as_a_prefix(
        ops in prop::collection::vec(arb_plain_op(), 1..14),
        acknowledged in 0usize..14,
        snapshots in prop::collection::vec(any::<bool>(), 14),
        keep in any::<prop::sample::Index>(),
    ) {
        let acknowledged = acknowledged.min(ops.len());
        let mem = Arc::new(MemFs::default());
        let fs = SharedMemFs(mem.clone());
        let rt = runtime();
        let mut states = vec![Vec::new()];
        {
            let (storage, _) = Storage::open(&options(&fs)).unwrap();
            let table = plain_table(&storage, &rt);
            let mut model = Vec::new();
            for (i, op) in ops.iter().enumerate() {
                if let Some(durable) = apply_plain(&table, &mut model, op)
                    && i < acknowledged
                {
                    rt.block_on(durable.durable()).unwrap();
                }
                prop_assert_eq!(&plain_contents(&table), &model);
                states.push(model.clone());
                if snapshots[i] {
                    storage.snapshot().unwrap();
                }
            }
            mem.crash(|unsynced| keep.index(unsynced + 1));
            drop(storage);
            mem.restart();
        }
        let (storage, _) = Storage::open(&options(&fs)).unwrap();
        let table = plain_of(&storage);
        let recovered = plain_contents(&table);
        prop_assert!(
            states[acknowledged..].contains(&recovered),
            "recovered {recovered:?}, not a state after {acknowledged} or more of {ops:?}"
        );
        // The key holds after recovery, and new rows follow the old ones.
        let mut model = recovered.clone();
        if let Some(&(id, _)) = recovered.first() {
            prop_assert!(apply_plain(&table, &mut model, &PlainOp::Insert(vec![id])).is_none());
        }
        apply_plain(&table, &mut model, &PlainOp::Insert(vec![100]));
        prop_assert_eq!(plain_contents(&table), model);
    }
}

/// Every row of `table` as text (time, then each column), sorted.
fn rows_as_text(table: &Table) -> Vec<String> {
    let mut out = Vec::new();
    for batch in table.scan(None).unwrap() {
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = batch
                .columns()
                .iter()
                .map(|c| arrow::util::display::array_value_to_string(c, row).unwrap_or_default())
                .collect();
            out.push(cells.join("|"));
        }
    }
    // Series come in the order they were first seen, which replay may change.
    out.sort();
    out
}

/// Runs `change` on the `cpu` table holding ten rows (two hosts, in sealed
/// blocks of four and in heads), with a snapshot taken never, before the
/// change, or where `change` calls its last argument; then checks that
/// recovery reads back the rows `change` left (`rows_as_text`).
fn survives_recovery(change: impl Fn(&Storage, Arc<Table>, &tokio::runtime::Runtime, &dyn Fn())) {
    for snapshot_at in [None, Some(0), Some(1)] {
        let mem = Arc::new(MemFs::default());
        let fs = SharedMemFs(mem.clone());
        let rt = runtime();
        let (expected, columns) = {
            let (storage, _) = Storage::open(&options(&fs)).unwrap();
            let old = create(&storage, &rt);
            let rows: Write = (0..10)
                .map(|i| {
                    (
                        i,
                        Some(["a", "b"][i as usize % 2].to_owned()),
                        Some(i as f64),
                    )
                })
                .collect();
            rt.block_on(apply(&old, 0, &rows).durable()).unwrap();
            if snapshot_at == Some(0) {
                storage.snapshot().unwrap();
            }
            let snapshot = || {
                if snapshot_at == Some(1) {
                    storage.snapshot().unwrap();
                }
            };
            change(&storage, old, &rt, &snapshot);
            let table = table_of(&storage);
            let found = (rows_as_text(&table), table.schema().columns().len());
            storage.close().unwrap();
            found
        };
        let (storage, _) = Storage::open(&options(&fs)).unwrap();
        let table = table_of(&storage);
        assert_eq!(table.schema().columns().len(), columns);
        assert_eq!(
            rows_as_text(&table),
            expected,
            "snapshot at {snapshot_at:?}"
        );
    }
}

#[test]
fn added_columns_hold_their_fills_in_old_rows_and_survive_snapshots_and_replay() {
    survives_recovery(|storage, old, rt, snapshot| {
        let ns = storage.database("metrics").unwrap().schema("m").unwrap();
        // Refused, changing nothing: a NOT NULL column without a value
        // for the rows there are, a value per row for them.
        let mut required = field("r", ColumnType::Int64);
        required.nullable = false;
        let refused = ns.add_columns("cpu", vec![required], &[ColumnFill::Null]);
        assert!(matches!(refused, Err(Error::ColumnHasNulls { .. })));
        let random = ns.add_columns(
            "cpu",
            vec![field("r", ColumnType::Float64)],
            &[ColumnFill::PerRow],
        );
        assert!(matches!(random, Err(Error::Unsupported { .. })));
        assert_eq!(ns.table("cpu").unwrap().schema().columns().len(), 4);
        // `n` is NOT NULL DEFAULT 5: the rows there are take 5, as do the
        // rows written later through the old table.
        let mut n = field("n", ColumnType::Int32);
        n.nullable = false;
        n.default = Some("5".into());
        let five: ArrayRef = Arc::new(arrow::array::Int32Array::from(vec![5]));
        let (table, logged) = ns
            .add_columns(
                "cpu",
                vec![field("note", ColumnType::Utf8), n],
                &[ColumnFill::Null, ColumnFill::Value(five)],
            )
            .unwrap();
        rt.block_on(logged.durable()).unwrap();
        // What still holds the old table writes and reads the new one,
        // as of the old columns.
        let late: Write = vec![(30, Some("a".into()), Some(30.0))];
        rt.block_on(old.write(&[batch(&old, 1, &late)]).unwrap().durable())
            .unwrap();
        let view = old
            .snapshot(&crate::storage::ScanRequest::default())
            .unwrap();
        assert_eq!(view.schema().fields().len(), 4);
        let staged = old.staging();
        staged
            .write(&[batch(&old, 2, &vec![(31, None, None)])])
            .unwrap()
            .without_waiting();
        rt.block_on(old.absorb(staged).unwrap().durable()).unwrap();
        // Refused: a column that exists.
        assert!(
            ns.add_columns("cpu", vec![field("v", ColumnType::Int64)], &[])
                .is_err()
        );
        let new_rows = RecordBatch::try_new(
            table.arrow_schema().clone(),
            vec![
                Arc::new(TimestampMicrosecondArray::from(vec![20, 21]).with_timezone("UTC")),
                Arc::new(StringArray::from(vec!["a", "c"])),
                Arc::new(Float64Array::from(vec![Some(1.5), None])),
                Arc::new(Int64Array::from(vec![7, 8])),
                Arc::new(StringArray::from(vec![Some("x"), None])),
                Arc::new(arrow::array::Int32Array::from(vec![9, -3])),
            ],
        )
        .unwrap();
        rt.block_on(table.write(&[new_rows]).unwrap().durable())
            .unwrap();
        snapshot();
        let text = rows_as_text(&table);
        assert_eq!(text.len(), 14);
        assert!(
            text.iter().filter(|r| r.ends_with("||5")).count() == 12,
            "{text:?}"
        );
        assert!(
            text.contains(&"1970-01-01T00:00:00.000020Z|a|1.5|7|x|9".to_owned()),
            "{text:?}"
        );
        assert!(
            text.contains(&"1970-01-01T00:00:00.000021Z|c||8||-3".to_owned()),
            "{text:?}"
        );
    });
}

#[test]
fn rows_staged_before_a_column_without_a_value_was_added_fail_rather_than_hold_null() {
    let mem = Arc::new(MemFs::default());
    let fs = SharedMemFs(mem.clone());
    let rt = runtime();
    let (storage, _) = Storage::open(&options(&fs)).unwrap();
    let old = create(&storage, &rt);
    // Staged while the table is empty, brought in after the ALTER.
    let staged = old.staging();
    staged
        .write(&[batch(&old, 0, &vec![(1, Some("a".into()), Some(1.0))])])
        .unwrap()
        .without_waiting();
    let ns = storage.database("metrics").unwrap().schema("m").unwrap();
    let mut required = field("r", ColumnType::Int64);
    required.nullable = false;
    let (table, logged) = ns
        .add_columns("cpu", vec![required], &[ColumnFill::Null])
        .unwrap();
    rt.block_on(logged.durable()).unwrap();
    assert!(matches!(
        old.absorb(staged),
        Err(Error::TableAltered { .. })
    ));
    let late: Write = vec![(2, Some("a".into()), Some(2.0))];
    assert!(matches!(
        old.write(&[batch(&old, 1, &late)]),
        Err(Error::TableAltered { .. })
    ));
    assert!(rows_as_text(&table).is_empty());
}

/// Adds `n integer DEFAULT 7` to table `cpu`: its rows hold 7 in it.
fn add_seven(ns: &crate::storage::Namespace, rt: &tokio::runtime::Runtime) -> Arc<Table> {
    let seven: ArrayRef = Arc::new(arrow::array::Int32Array::from(vec![7]));
    let (table, logged) = ns
        .add_columns(
            "cpu",
            vec![field("n", ColumnType::Int32)],
            &[ColumnFill::Value(seven)],
        )
        .unwrap();
    rt.block_on(logged.durable()).unwrap();
    table
}

#[test]
fn widened_columns_are_encoded_again_and_survive_snapshots_and_replay() {
    survives_recovery(|storage, old, rt, snapshot| {
        let ns = storage.database("metrics").unwrap().schema("m").unwrap();
        let narrow = add_seven(&ns, rt);
        let mut columns = narrow.schema().columns().to_vec();
        // Refused: a narrower type.
        columns[4].column_type = ColumnType::Int16;
        assert!(ns.alter_columns("cpu", columns.clone()).is_err());
        columns[4].column_type = ColumnType::Int64;
        let (table, logged) = ns.alter_columns("cpu", columns).unwrap();
        rt.block_on(logged.durable()).unwrap();
        // What still holds an older table can no longer write it.
        let late: Write = vec![(30, Some("a".into()), Some(30.0))];
        assert!(old.write(&[batch(&old, 1, &late)]).is_err());
        let new_rows = RecordBatch::try_new(
            table.arrow_schema().clone(),
            vec![
                Arc::new(TimestampMicrosecondArray::from(vec![20]).with_timezone("UTC")),
                Arc::new(StringArray::from(vec!["a"])),
                Arc::new(Float64Array::from(vec![1.5])),
                Arc::new(Int64Array::from(vec![2])),
                Arc::new(Int64Array::from(vec![5_000_000_000])),
            ],
        )
        .unwrap();
        rt.block_on(table.write(&[new_rows]).unwrap().durable())
            .unwrap();
        snapshot();
        let text = rows_as_text(&table);
        assert_eq!(text.len(), 11);
        assert_eq!(text.iter().filter(|r| r.ends_with("|7")).count(), 10);
        assert!(text.iter().any(|r| r.ends_with("|5000000000")), "{text:?}");
    });
}

#[test]
fn dropped_columns_leave_blocks_and_heads_and_survive_snapshots_and_replay() {
    survives_recovery(|storage, old, rt, snapshot| {
        let ns = storage.database("metrics").unwrap().schema("m").unwrap();
        // Refused: the time column and a tag.
        assert!(ns.drop_columns("cpu", &["time".into()]).is_err());
        assert!(ns.drop_columns("cpu", &["host".into()]).is_err());
        add_seven(&ns, rt);
        // `v`, the first field: the others take its place.
        let (table, logged) = ns.drop_columns("cpu", &["v".into()]).unwrap();
        rt.block_on(logged.durable()).unwrap();
        assert_eq!(table.schema().columns().len(), 4);
        // What still holds the old table can neither read nor write it.
        let late: Write = vec![(30, Some("a".into()), Some(30.0))];
        assert!(matches!(
            old.write(&[batch(&old, 1, &late)]),
            Err(Error::TableAltered { .. })
        ));
        assert!(matches!(
            old.snapshot(&crate::storage::ScanRequest::default()),
            Err(Error::TableAltered { .. })
        ));
        let new_rows = RecordBatch::try_new(
            table.arrow_schema().clone(),
            vec![
                Arc::new(TimestampMicrosecondArray::from(vec![20, 21]).with_timezone("UTC")),
                Arc::new(StringArray::from(vec!["a", "c"])),
                Arc::new(Int64Array::from(vec![7, 8])),
                Arc::new(arrow::array::Int32Array::from(vec![Some(1), None])),
            ],
        )
        .unwrap();
        rt.block_on(table.write(&[new_rows]).unwrap().durable())
            .unwrap();
        snapshot();
        let text = rows_as_text(&table);
        assert_eq!(text.len(), 12);
        assert!(
            text.contains(&"1970-01-01T00:00:00.000003Z|b|0|7".to_owned()),
            "{text:?}"
        );
        assert!(
            text.contains(&"1970-01-01T00:00:00.000021Z|c|8|".to_owned()),
            "{text:?}"
        );
    });
}

/// A change to the `cpu` table: rows written, a region deleted (of one
/// host, or of all; only rows with `v` above a bound, or all), the rows a
/// delete would take updated instead (moved by `shift` in time, to host
/// `to`, `v` plus one), or the table emptied.
#[derive(Debug, Clone)]
enum RegionOp {
    Write(Write),
    Delete {
        start: i64,
        end: i64,
        host: Option<Option<&'static str>>,
        above: Option<f64>,
    },
    Update {
        delete: Box<RegionOp>,
        shift: i64,
        to: Option<&'static str>,
    },
    Truncate,
}

/// A row as an update of `op` leaves it.
fn updated(shift: i64, to: Option<&'static str>, row: &Row) -> Row {
    (
        row.0,
        row.1 + shift,
        to.map(str::to_owned),
        row.3.map(|v| (f64::from_bits(v) + 1.0).to_bits()),
    )
}

fn arb_region_op() -> impl Strategy<Value = RegionOp> {
    prop_oneof![
        3 => arb_write().prop_map(RegionOp::Write),
        3 => (
            -100i64..5_100,
            0i64..3_000,
            prop::option::of(prop::option::of(prop::sample::select(vec!["a", "b", "c"]))),
            prop::option::of(-10.0f64..10.0),
        )
            .prop_map(|(start, len, host, above)| RegionOp::Delete {
                start,
                end: start + len,
                host,
                above,
            }),
        1 => Just(RegionOp::Truncate),
    ]
    .prop_flat_map(|op| {
        let delete = op.clone();
        (
            Just(op),
            any::<bool>(),
            -500i64..500,
            prop::option::of(prop::sample::select(vec!["a", "b", "d"])),
        )
            .prop_map(move |(op, update, shift, to)| match (&delete, update) {
                (RegionOp::Delete { .. }, true) => RegionOp::Update {
                    delete: Box::new(op),
                    shift,
                    to,
                },
                _ => op,
            })
    })
}

/// Whether a region delete takes a row of the model.
fn deletes(op: &RegionOp, row: &Row) -> bool {
    match op {
        RegionOp::Write(_) | RegionOp::Update { .. } => false,
        RegionOp::Truncate => true,
        RegionOp::Delete {
            start,
            end,
            host,
            above,
        } => {
            (*start..=*end).contains(&row.1)
                && host.is_none_or(|h| row.2.as_deref() == h)
                && above.is_none_or(|bound| {
                    row.3
                        .is_some_and(|v| f64::from_bits(v).total_cmp(&bound).is_gt())
                })
        }
    }
}

/// The model after `ops`.
fn region_model(ops: &[RegionOp]) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            RegionOp::Write(write) => rows.extend(
                (write.iter()).map(|r| (i as i64, r.0, r.1.clone(), r.2.map(f64::to_bits))),
            ),
            RegionOp::Update { delete, shift, to } => {
                for row in &mut rows {
                    if deletes(delete, row) {
                        *row = updated(*shift, *to, row);
                    }
                }
            }
            other => rows.retain(|row| !deletes(other, row)),
        }
    }
    rows.sort();
    rows
}

/// The region of a delete: times `start..=end` of one host (or NULL), or
/// of every host.
fn op_region(start: i64, end: i64, host: Option<Option<&'static str>>) -> Region {
    Region {
        time_range: TimeRange { start, end },
        series: match host {
            None => SeriesFilter::All,
            Some(host) => SeriesFilter::Tag {
                tag: 0,
                predicate: match host {
                    Some(h) => TagPredicate::Eq(h.into()),
                    None => TagPredicate::IsNull,
                },
            },
        },
    }
}

/// Which rows of `batch` have `v` above `bound` (all of them without one).
fn above_bound(batch: &RecordBatch, bound: Option<f64>) -> arrow::array::BooleanArray {
    let values = batch.column(2).as_primitive::<Float64Type>();
    (values.iter())
        .map(|v| match bound {
            None => Some(true),
            Some(bound) => v.map(|v| v.total_cmp(&bound).is_gt()),
        })
        .collect()
}

/// Applies operation `i`; its ticket says how many rows it wrote or took.
fn apply_region_op(table: &Table, i: usize, op: &RegionOp) -> Durable<usize> {
    match op {
        RegionOp::Write(rows) => apply(table, i, rows),
        RegionOp::Truncate => table.truncate().unwrap(),
        RegionOp::Update { delete, shift, to } => {
            let RegionOp::Delete {
                start,
                end,
                host,
                above,
            } = delete.as_ref()
            else {
                unreachable!("an update of something other than a delete's rows");
            };
            let region = op_region(*start, *end, *host);
            let predicate = |batch: &RecordBatch| Ok(above_bound(batch, *above));
            let rewrite = |batch: &RecordBatch| -> Result<RecordBatch> {
                let times = batch.column(0).as_primitive::<TimestampMicrosecondType>();
                let values = batch.column(2).as_primitive::<Float64Type>();
                let columns: Vec<ArrayRef> = vec![
                    Arc::new(
                        TimestampMicrosecondArray::from_iter(
                            times.iter().map(|t| t.map(|t| t + shift)),
                        )
                        .with_timezone("UTC"),
                    ),
                    Arc::new(StringArray::from(vec![*to; batch.num_rows()])),
                    Arc::new(
                        values
                            .iter()
                            .map(|v| v.map(|v| v + 1.0))
                            .collect::<Float64Array>(),
                    ),
                    batch.column(3).clone(),
                ];
                Ok(RecordBatch::try_new(batch.schema(), columns)?)
            };
            table.update(&region, &predicate, &rewrite).unwrap()
        }
        RegionOp::Delete {
            start,
            end,
            host,
            above,
        } => {
            let region = op_region(*start, *end, *host);
            let predicate = |batch: &RecordBatch| Ok(above_bound(batch, *above));
            let predicate: Option<&RowPredicate<'_, Error>> = match above {
                Some(_) => Some(&predicate),
                None => None,
            };
            table.delete(&region, predicate).unwrap()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Deletes by region, with and without a predicate, updates of a
    /// region's rows, and truncation:
    /// each says how many rows it took, a restart after a crash at any
    /// point yields the model after some prefix of the operations holding
    /// every acknowledged one, and a second restart agrees.
    #[test]
    fn region_deletes_count_right_and_recover_as_a_prefix(
        ops in prop::collection::vec(arb_region_op(), 1..14),
        acknowledged in 0usize..14,
        snapshots in prop::collection::vec(any::<bool>(), 14),
        keep in any::<prop::sample::Index>(),
    ) {
        let acknowledged = acknowledged.min(ops.len());
        let recovered = crash_and_recover(
            ops.len(),
            acknowledged,
            &snapshots,
            &keep,
            |table, i| apply_region_op(table, i, &ops[i]),
            |table, i, count| {
                let before = region_model(&ops[..i]).len();
                let after = region_model(&ops[..=i]);
                prop_assert_eq!(contents(table), after.clone(), "after operation {}", i);
                match &ops[i] {
                    RegionOp::Write(_) => {}
                    RegionOp::Update { delete, .. } => {
                        let taken = (region_model(&ops[..i]).iter())
                            .filter(|row| deletes(delete, row))
                            .count();
                        prop_assert_eq!(count, taken, "count of operation {}", i);
                    }
                    _ => prop_assert_eq!(count, before - after.len(), "count of operation {}", i),
                }
                Ok(())
            },
        )?;
        let k = (acknowledged..=ops.len()).find(|&k| region_model(&ops[..k]) == recovered);
        prop_assert!(k.is_some(), "recovered {} rows, not the model after a prefix of {} operations holding the first {}",
            recovered.len(), ops.len(), acknowledged);
    }
}

/// One round of a sequence's life between crashes: values taken (each
/// batch acknowledged or not), maybe a `setval`, maybe a snapshot.
#[derive(Debug, Clone)]
struct SequenceRound {
    takes: Vec<(usize, bool)>,
    set: Option<i64>,
    snapshot: bool,
}

fn arb_sequence_round() -> impl Strategy<Value = SequenceRound> {
    (
        prop::collection::vec((1usize..40, any::<bool>()), 0..6),
        prop::option::of(1i64..500),
        any::<bool>(),
    )
        .prop_map(|(takes, set, snapshot)| SequenceRound {
            takes,
            set,
            snapshot,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Across crashes that keep any part of what was not synced, and
    /// snapshots, a sequence never hands out an acknowledged value again
    /// (counting up from a `setval`), and the sequences a dropped table
    /// owned stay dropped.
    #[test]
    fn sequences_never_hand_out_an_acknowledged_value_again(
        rounds in prop::collection::vec(arb_sequence_round(), 1..5),
        keeps in prop::collection::vec(any::<prop::sample::Index>(), 5),
    ) {
        let mem = Arc::new(MemFs::default());
        let fs = SharedMemFs(mem.clone());
        let rt = runtime();
        let spec = crate::storage::SequenceOptions::new(&crate::storage::SequenceSpec::default()).unwrap();
        {
            let (storage, _) = Storage::open(&options(&fs)).unwrap();
            let ns = storage.database(DEFAULT_DATABASE).unwrap().schema(DEFAULT_SCHEMA).unwrap();
            rt.block_on(ns.create_sequence("s", spec, false).unwrap().durable()).unwrap();
            let owned = vec![crate::storage::OwnedSequence {
                column: "w".into(),
                preferred: "t_w_seq".into(),
                options: spec,
            }];
            let created = ns.create_table_with_sequences("t", schema(), TableOptions::default(), owned, false);
            rt.block_on(created.unwrap().durable()).unwrap();
            prop_assert!(ns.sequence("t_w_seq").is_some());
            rt.block_on(ns.drop_table("t", false).unwrap().durable()).unwrap();
            storage.close().unwrap();
        }
        // Every value acknowledged must stay behind the sequence: after a
        // setval, only the values taken since.
        let mut floor = 0i64;
        for (round, keep) in rounds.iter().zip(&keeps) {
            let (storage, _) = Storage::open(&options(&fs)).unwrap();
            let ns = storage.database(DEFAULT_DATABASE).unwrap().schema(DEFAULT_SCHEMA).unwrap();
            prop_assert!(ns.sequence("t_w_seq").is_none());
            let sequence = ns.sequence("s").unwrap();
            let (first, _) = sequence.next_values(1).unwrap();
            prop_assert!(first[0] > floor, "{} handed out again (floor {})", first[0], floor);
            for &(n, acknowledged) in &round.takes {
                let (values, ticket) = sequence.next_values(n).unwrap();
                if acknowledged {
                    rt.block_on(ticket.durable()).unwrap();
                    floor = floor.max(values.iter().copied().max().unwrap_or(floor));
                }
            }
            if let Some(value) = round.set {
                rt.block_on(sequence.set(value, true).unwrap().durable()).unwrap();
                floor = value;
            }
            if round.snapshot {
                storage.snapshot().unwrap();
            }
            mem.crash(|unsynced| keep.index(unsynced + 1));
            drop(storage);
            mem.restart();
        }
        let (storage, _) = Storage::open(&options(&fs)).unwrap();
        let ns = storage.database(DEFAULT_DATABASE).unwrap().schema(DEFAULT_SCHEMA).unwrap();
        let (next, _) = ns.sequence("s").unwrap().next_values(1).unwrap();
        prop_assert!(next[0] > floor, "{} handed out again (floor {})", next[0], floor);
    }
}

fn view(name: &str, query: &str) -> View {
    View {
        name: name.into(),
        query: query.into(),
        columns: vec![crate::storage::ViewColumn {
            name: "host".into(),
            data_type: arrow::datatypes::DataType::Utf8,
        }],
        depends_on: vec![crate::storage::ViewDependency {
            schema: "m".into(),
            name: "cpu".into(),
            columns: vec!["time".into(), "host".into(), "usage".into()],
        }],
    }
}

/// What views the schema holds, by name and query.
fn views_of(storage: &Storage) -> Vec<(String, String)> {
    let ns = storage.database("metrics").unwrap().schema("m").unwrap();
    (ns.views().iter())
        .map(|v| (v.name.clone(), v.query.clone()))
        .collect()
}

#[test]
fn views_survive_snapshots_and_replay() {
    let mem = Arc::new(MemFs::default());
    let fs = SharedMemFs(mem.clone());
    let rt = runtime();
    let expected = vec![
        ("kept".to_owned(), "SELECT host FROM m.cpu".to_owned()),
        (
            "replaced".to_owned(),
            "SELECT DISTINCT host FROM m.cpu".to_owned(),
        ),
    ];
    {
        let (storage, _) = Storage::open(&options(&fs)).unwrap();
        let _ = create(&storage, &rt);
        let ns = storage.database("metrics").unwrap().schema("m").unwrap();
        rt.block_on(
            ns.create_view(view("kept", "SELECT host FROM m.cpu"), None)
                .unwrap()
                .durable(),
        )
        .unwrap();
        // In the snapshot: one that is replaced and one dropped after it.
        let _ = ns.create_view(view("replaced", "SELECT 1"), None).unwrap();
        let _ = ns.create_view(view("gone", "SELECT 2"), None).unwrap();
        storage.snapshot().unwrap().unwrap();
        let old = ns.view("replaced").unwrap();
        let replacement = view("replaced", "SELECT DISTINCT host FROM m.cpu");
        let _ = ns.create_view(replacement, Some(&old)).unwrap();
        rt.block_on(ns.drop_view("gone").unwrap().durable())
            .unwrap();
        // Names are shared with tables, and a replacement must know what
        // it replaces.
        assert!(ns.create_view(view("cpu", "SELECT 3"), None).is_err());
        assert!(ns.create_view(view("kept", "SELECT 4"), None).is_err());
        assert!(
            ns.create_view(view("kept", "SELECT 4"), Some(&old))
                .is_err()
        );
        assert!(
            ns.create_table("kept", schema(), TableOptions::default(), false)
                .is_err()
        );
        assert_eq!(views_of(&storage), expected);
        // A crash: no clean close.
    }
    let (storage, recovery) = Storage::open(&options(&fs)).unwrap();
    assert!(recovery.wal_records > 0);
    assert_eq!(views_of(&storage), expected);
    let ns = storage.database("metrics").unwrap().schema("m").unwrap();
    assert_eq!(
        *ns.view("kept").unwrap(),
        view("kept", "SELECT host FROM m.cpu")
    );
    storage.snapshot().unwrap().unwrap();
    storage.close().unwrap();
    drop(storage);
    let (storage, recovery) = Storage::open(&options(&fs)).unwrap();
    assert_eq!(recovery.wal_records, 0);
    assert_eq!(views_of(&storage), expected);
}

#[test]
fn renamed_tables_and_altered_columns_survive_snapshots_and_replay() {
    let mem = Arc::new(MemFs::default());
    let fs = SharedMemFs(mem.clone());
    let rt = runtime();
    let writes: Vec<Write> = vec![
        vec![
            (1, Some("a".into()), Some(1.0)),
            (2, Some("b".into()), None),
        ],
        vec![(3, Some("a".into()), Some(3.0))],
    ];
    let altered = |table: &Table| {
        let mut columns = table.schema().columns().to_vec();
        columns[2].name = "value".into();
        columns[2].default = Some("0.5".into());
        columns[1].nullable = false;
        columns
    };
    {
        let (storage, _) = Storage::open(&options(&fs)).unwrap();
        let table = create(&storage, &rt);
        rt.block_on(apply(&table, 0, &writes[0]).durable()).unwrap();
        storage.snapshot().unwrap().unwrap();
        rt.block_on(apply(&table, 1, &writes[1]).durable()).unwrap();
        let ns = storage.database("metrics").unwrap().schema("m").unwrap();
        // `v` holds a NULL: it cannot be made NOT NULL.
        let mut columns = table.schema().columns().to_vec();
        columns[2].nullable = false;
        assert!(matches!(
            ns.alter_columns("cpu", columns),
            Err(Error::ColumnHasNulls { .. })
        ));
        let _ = ns.alter_columns("cpu", altered(&table)).unwrap();
        assert!(ns.rename_table("cpu", "cpu").is_err());
        let (table, logged) = ns.rename_table("cpu", "load").unwrap();
        rt.block_on(logged.durable()).unwrap();
        assert_eq!(contents(&table), model(&writes));
        // A crash: no clean close.
    }
    let check = |storage: &Storage| {
        let ns = storage.database("metrics").unwrap().schema("m").unwrap();
        assert!(ns.table("cpu").is_none());
        let table = ns.table("load").expect("renamed table recovered");
        assert_eq!(table.name(), "load");
        let columns = table.schema().columns();
        assert_eq!(columns[2].name, "value");
        assert_eq!(columns[2].default.as_deref(), Some("0.5"));
        assert!(!columns[1].nullable);
        assert_eq!(contents(&table), model(&writes));
    };
    let (storage, recovery) = Storage::open(&options(&fs)).unwrap();
    assert!(recovery.wal_records > 0);
    check(&storage);
    storage.snapshot().unwrap().unwrap();
    storage.close().unwrap();
    drop(storage);
    let (storage, recovery) = Storage::open(&options(&fs)).unwrap();
    assert_eq!(recovery.wal_records, 0);
    check(&storage);
}

#[test]
fn date_json_uuid_and_bytea_columns_survive_sealing_snapshots_and_replay() {
    use arrow::array::{BinaryArray, Date32Array};
    // The snapshot: none, or after the first half of the rows.
    for snapshot in [false, true] {
        let mem = Arc::new(MemFs::default());
        let fs = SharedMemFs(mem.clone());
        let rt = runtime();
        let schema = TableSchema::try_new(vec![
            field("day", ColumnType::Date),
            field("raw", ColumnType::Json),
            field("doc", ColumnType::Jsonb),
            field("key", ColumnType::Uuid),
            field("blob", ColumnType::Bytea),
        ])
        .unwrap();
        let batch = |table: &Table, from: i32| {
            let rows = from..from + 5;
            RecordBatch::try_new(
                table.arrow_schema().clone(),
                vec![
                    Arc::new(Date32Array::from_iter(
                        rows.clone().map(|i| (i % 3 != 0).then_some(i * 1000)),
                    )) as ArrayRef,
                    Arc::new(StringArray::from_iter(
                        rows.clone().map(|i| Some(format!("{{\"k\" :  {i}}}"))),
                    )),
                    Arc::new(StringArray::from_iter(rows.clone().map(|i| {
                        (i % 4 != 0).then(|| format!("{{\"b\":{i}, \"a\":1.50}}"))
                    }))),
                    Arc::new(StringArray::from_iter(rows.clone().map(|i| {
                        Some(format!("{{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A{i:02}}}"))
                    }))),
                    Arc::new(BinaryArray::from_iter(
                        rows.map(|i| (i % 2 == 0).then(|| vec![0xff, i as u8, 0])),
                    )),
                ],
            )
            .unwrap()
        };
        let expected = {
            let (storage, _) = Storage::open(&options(&fs)).unwrap();
            let table = create_public(&storage, &rt, "docs", schema.clone());
            rt.block_on(table.write(&[batch(&table, 0)]).unwrap().durable())
                .unwrap();
            if snapshot {
                storage.snapshot().unwrap();
            }
            rt.block_on(table.write(&[batch(&table, 5)]).unwrap().durable())
                .unwrap();
            let rows = rows_as_text(&table);
            drop(storage);
            rows
        };
        // jsonb is stored normalized, json as written.
        let row = "1972-09-27|{\"k\" :  1}|{\"a\": 1.50, \"b\": 1}|\
                   a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a01|";
        assert!(expected.contains(&row.to_owned()));
        let row = "|{\"k\" :  0}||a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a00|ff0000";
        assert!(expected.contains(&row.to_owned()));
        assert_eq!(expected.len(), 10);
        let (storage, _) = Storage::open(&options(&fs)).unwrap();
        let table = public_table(&storage, "docs");
        assert_eq!(rows_as_text(&table), expected, "snapshot {snapshot}");
        assert_eq!(table.schema().columns()[2].column_type, ColumnType::Jsonb);
        // Bad JSON is refused as the rows are written.
        let bad = RecordBatch::try_new(
            table.arrow_schema().clone(),
            vec![
                Arc::new(Date32Array::from(vec![Some(1)])) as ArrayRef,
                Arc::new(StringArray::from(vec![Some("{")])),
                Arc::new(StringArray::from(vec![Some("{}")])),
                Arc::new(StringArray::from(vec![None::<&str>])),
                Arc::new(BinaryArray::from(vec![None::<&[u8]>])),
            ],
        )
        .unwrap();
        assert!(matches!(table.write(&[bad]), Err(Error::Value(_))));
    }
}

#[test]
fn indexes_follow_their_table_and_survive_snapshots_and_replay() {
    let index = |name: &str, columns: &[(&str, bool)]| Index {
        name: name.into(),
        table: "cpu".into(),
        columns: (columns.iter())
            .map(|&(name, descending)| IndexColumn {
                name: name.into(),
                descending,
                nulls_first: descending,
            })
            .collect(),
    };
    let listed = |storage: &Storage| -> Vec<Index> {
        let ns = storage.database("metrics").unwrap().schema("m").unwrap();
        ns.indexes().iter().map(|i| Index::clone(i)).collect()
    };
    for snapshot_at in [None, Some(0), Some(1), Some(2)] {
        let mem = Arc::new(MemFs::default());
        let fs = SharedMemFs(mem.clone());
        let rt = runtime();
        let expected = {
            let (storage, _) = Storage::open(&options(&fs)).unwrap();
            create(&storage, &rt);
            let ns = storage.database("metrics").unwrap().schema("m").unwrap();
            let snapshot = |at| {
                if snapshot_at == Some(at) {
                    storage.snapshot().unwrap();
                }
            };
            let made = ns.create_index(index("by_host", &[("host", false), ("time", true)]), false);
            rt.block_on(made.unwrap().durable()).unwrap();
            let made = ns.create_index(index("by_time", &[("time", false)]), false);
            rt.block_on(made.unwrap().durable()).unwrap();
            // A name taken, a field, a column not there: refused.
            let taken = ns.create_index(index("cpu", &[("time", false)]), false);
            assert!(matches!(taken, Err(Error::TableExists { .. })));
            let field = ns.create_index(index("by_value", &[("v", false)]), false);
            assert!(matches!(field, Err(Error::Unsupported { .. })));
            let missing = ns.create_index(index("by_nope", &[("nope", false)]), false);
            assert!(matches!(missing, Err(Error::InvalidSchema { .. })));
            snapshot(0);
            // A renamed column and table take their indexes along.
            let mut columns = ns.table("cpu").unwrap().schema().columns().to_vec();
            columns[1].name = "hostname".into();
            rt.block_on(ns.alter_columns("cpu", columns).unwrap().1.durable())
                .unwrap();
            rt.block_on(ns.rename_table("cpu", "cpu2").unwrap().1.durable())
                .unwrap();
            snapshot(1);
            rt.block_on(ns.drop_index("by_time", false).unwrap().durable())
                .unwrap();
            assert!(matches!(
                ns.drop_index("by_time", false),
                Err(Error::IndexNotFound { .. })
            ));
            snapshot(2);
            let found = listed(&storage);
            storage.close().unwrap();
            found
        };
        let mut by_host = index("by_host", &[("hostname", false), ("time", true)]);
        by_host.table = "cpu2".into();
        assert_eq!(expected, vec![by_host], "snapshot at {snapshot_at:?}");
        let (storage, _) = Storage::open(&options(&fs)).unwrap();
        assert_eq!(listed(&storage), expected, "snapshot at {snapshot_at:?}");
        // Dropping the table drops its indexes, after recovery too.
        let ns = storage.database("metrics").unwrap().schema("m").unwrap();
        rt.block_on(ns.drop_table("cpu2", false).unwrap().durable())
            .unwrap();
        assert!(listed(&storage).is_empty());
        storage.close().unwrap();
        let (storage, _) = Storage::open(&options(&fs)).unwrap();
        assert!(listed(&storage).is_empty());
    }
}
