//! Snapshots and recovery: how storage reaches disk and comes back.
//!
//! A snapshot is a compacted log: the records that rebuild the state as of
//! one LSN (the catalog, then each table's image), in a file of the WAL's
//! framing. Recovery replays the newest snapshot, then the WAL from its LSN
//! on, through one function, so a snapshot and the log can never disagree on
//! what a record means.
//!
//! ```text
//! data_dir/snapshot-<lsn, 20 digits>.snap:  file header | record frames | SnapshotEnd frame
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::acl::{Acl, AclObject, Privileges};
use super::catalog::{DEFAULT_DATABASE, DEFAULT_SCHEMA, Storage};
use super::error::{Error, Result, corrupt};
use super::files::{
    DurabilityOptions, Files, SNAPSHOT_MAGIC, io, parse_snapshot_name, snapshot_name,
};
use super::image::Heads;
use super::index::Index;
use super::journal::Journal;
use super::record::{Record, create_table_record, data_record_header, mark_last};
use super::scan::TimeRange;
use super::schema::{ColumnFill, TableSchema};
use super::sequence::{Sequence, SequenceState};
use super::series::SeriesKey;
use super::table::Table;
use super::view::View;
use crate::wal::{self, Wal, WalOptions, frame};

/// What recovery found, for the start-up log.
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    /// The LSN of the snapshot loaded, if any.
    pub snapshot_lsn: Option<u64>,
    pub snapshot_bytes: u64,
    pub snapshot_time: Duration,
    pub wal_records: u64,
    pub wal_time: Duration,
    /// Where the log continues.
    pub end_lsn: u64,
    pub tables: usize,
}

/// What a snapshot wrote.
#[derive(Debug, Clone)]
pub struct SnapshotReport {
    pub lsn: u64,
    pub bytes: u64,
    pub tables: usize,
    pub rows: u64,
    /// How long writers waited while the state was captured.
    pub pause: Duration,
    pub elapsed: Duration,
    pub segments_removed: usize,
}

impl Storage {
    /// Opens durable storage in `options.dir`: loads the newest snapshot,
    /// replays the WAL after it (cutting off a torn tail), and starts a new
    /// WAL segment where the log ends.
    pub fn open(options: &DurabilityOptions) -> Result<(Self, Recovery)> {
        let fs = options.fs.as_ref();
        let dir = &options.dir;
        let names = fs.list(dir).map_err(|e| io("list", dir, &e))?;
        for name in names.iter().filter(|n| n.ends_with(".tmp")) {
            let path = dir.join(name);
            fs.remove(&path).map_err(|e| io("remove", &path, &e))?;
        }
        let mut snapshots: Vec<u64> = names
            .iter()
            .filter_map(|n| parse_snapshot_name(n))
            .collect();
        snapshots.sort_unstable();

        let journal = Arc::new(Journal::default());
        let files = Files {
            dir: dir.clone(),
            fs: options.fs.clone(),
            snapshotting: Mutex::new(()),
            snapshot_lsn: AtomicU64::new(0),
        };
        let storage = Storage::with_journal(journal.clone(), Some(files));
        let mut recovery = Recovery::default();
        let mut replayer = Replayer::new(&storage);

        // The newest snapshot that checks whole; an older one only if the
        // newest is damaged (replay then needs the WAL back to its LSN).
        let mut from = 0;
        let mut damaged: Option<Error> = None;
        for &lsn in snapshots.iter().rev() {
            let started = Instant::now();
            let path = dir.join(snapshot_name(lsn));
            let bytes = fs.read(&path).map_err(|e| io("read", &path, &e))?;
            let records = match check_snapshot(&bytes, lsn) {
                Ok(records) => records,
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "snapshot is damaged");
                    damaged.get_or_insert(Error::Corrupt {
                        reason: format!(
                            "snapshot {} is damaged ({e}) and no older snapshot is intact; \
                             move it away to start from the WAL alone",
                            path.display()
                        ),
                    });
                    continue;
                }
            };
            let body = &bytes[frame::FILE_HEADER..];
            for range in records {
                replayer.apply(0, Record::decode(&body[range])?)?;
            }
            recovery.snapshot_lsn = Some(lsn);
            recovery.snapshot_bytes = bytes.len() as u64;
            recovery.snapshot_time = started.elapsed();
            tracing::info!(
                file = %path.display(),
                bytes = bytes.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "loaded snapshot"
            );
            from = lsn;
            damaged = None;
            break;
        }
        if let Some(error) = damaged {
            return Err(error);
        }
        if let Some(files) = &storage.durability {
            files.snapshot_lsn.store(from, Ordering::Relaxed);
        }

        let started = Instant::now();
        let replayed = wal::replay(dir, fs, from, options.on_corruption, |lsn, payload| {
            let record = Record::decode(payload).map_err(|e| Error::Corrupt {
                reason: format!("WAL record at LSN {lsn}: {e}"),
            })?;
            replayer.apply(lsn, record)
        })??;
        let mut replayed = replayed;
        if let Some(lsn) = replayer.pending_since {
            // Cut it off, or a later write's last record would complete it.
            tracing::warn!(
                lsn,
                "discarding a write whose last WAL record is missing; it was never acknowledged"
            );
            wal::cut(dir, fs, &mut replayed.segments, lsn)?;
            replayed.end = lsn;
        }
        drop(replayer);
        recovery.wal_records = replayed.records;
        recovery.wal_time = started.elapsed();
        recovery.end_lsn = replayed.end;
        recovery.tables = storage.tables().len();
        tracing::info!(
            records = replayed.records,
            end_lsn = replayed.end,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "replayed the write-ahead log"
        );

        let wal = Wal::open(
            dir,
            options.fs.clone(),
            WalOptions {
                mode: options.mode,
                segment_size: options.segment_size,
            },
            replayed.end,
            replayed.segments,
        )?;
        journal.attach(Arc::new(wal));
        // Snapshots older than the one loaded are of no more use; a damaged
        // newer one stays for inspection until the next snapshot replaces it.
        for &old in snapshots
            .iter()
            .filter(|&&s| Some(s) < recovery.snapshot_lsn)
        {
            let path = dir.join(snapshot_name(old));
            fs.remove(&path).map_err(|e| io("remove", &path, &e))?;
        }
        Ok((storage, recovery))
    }

    /// Bytes logged since the newest snapshot.
    pub fn wal_bytes_since_snapshot(&self) -> u64 {
        match (self.journal.wal(), &self.durability) {
            (Some(wal), Some(files)) => wal
                .end()
                .saturating_sub(files.snapshot_lsn.load(Ordering::Relaxed)),
            _ => 0,
        }
    }

    /// Writes a snapshot of everything, then removes the WAL segments and
    /// snapshots it makes redundant. `None` for in-memory storage.
    ///
    /// Writers wait only while the state is captured (pointer clones); the
    /// file is written afterwards: temp file, fsync, rename, fsync of the
    /// directory.
    pub fn snapshot(&self) -> Result<Option<SnapshotReport>> {
        let (Some(files), Some(wal)) = (&self.durability, self.journal.wal()) else {
            return Ok(None);
        };
        let _one = files.snapshotting.lock();
        let started = Instant::now();
        let (lsn, mut records, captures) = {
            let _frozen = self.journal.freeze();
            let lsn = wal.end();
            let mut records = self.roles.snapshot_records();
            let mut captures = Vec::new();
            let acl_records = |records: &mut Vec<Record>, object: AclObject, acl: &Acl| {
                for (grantee, privileges) in acl.entries() {
                    records.push(Record::SetAcl {
                        object: object.clone(),
                        grantee: grantee.to_owned(),
                        privileges: privileges.bits(),
                    });
                }
            };
            for database in self.databases.read().values() {
                if database.name != DEFAULT_DATABASE {
                    records.push(Record::CreateDatabase {
                        name: database.name.clone(),
                    });
                }
                acl_records(
                    &mut records,
                    AclObject::Database(database.name.clone()),
                    &database.acl.read(),
                );
                let schemas = database.schemas.read();
                if !schemas.contains_key(DEFAULT_SCHEMA) {
                    records.push(Record::DropSchema {
                        database: database.name.clone(),
                        name: DEFAULT_SCHEMA.into(),
                    });
                }
                for namespace in schemas.values() {
                    if namespace.name != DEFAULT_SCHEMA {
                        records.push(Record::CreateSchema {
                            database: database.name.clone(),
                            name: namespace.name.clone(),
                        });
                    }
                    acl_records(
                        &mut records,
                        AclObject::Schema {
                            database: database.name.clone(),
                            name: namespace.name.clone(),
                        },
                        &namespace.acl.read(),
                    );
                    for (name, table) in namespace.tables.read().iter() {
                        records.push(create_table_record(
                            &database.name,
                            &namespace.name,
                            name,
                            table.id(),
                            table.options(),
                            table.schema(),
                        ));
                        if let Some(retention) = table.retention() {
                            records.push(Record::SetRetention {
                                table: table.id(),
                                retention: Some(retention),
                            });
                        }
                        acl_records(
                            &mut records,
                            AclObject::Table(table.id()),
                            &table.acl_lock().read(),
                        );
                        captures.push((table.id(), table.capture()));
                    }
                    for (name, sequence) in namespace.sequences.read().iter() {
                        records.push(Record::CreateSequence {
                            database: database.name.clone(),
                            schema: namespace.name.clone(),
                            name: name.clone(),
                            id: sequence.id(),
                            options: *sequence.options(),
                            owner: sequence.owner(),
                        });
                        let state = sequence.snapshot_state();
                        records.push(Record::SequenceValue {
                            id: sequence.id(),
                            last: state.last,
                            called: state.called,
                        });
                    }
                    for view in namespace.views.read().values() {
                        records.push(Record::CreateView {
                            database: database.name.clone(),
                            schema: namespace.name.clone(),
                            view: View::clone(view),
                        });
                    }
                    for index in namespace.indexes.read().values() {
                        records.push(Record::CreateIndex {
                            database: database.name.clone(),
                            schema: namespace.name.clone(),
                            index: Index::clone(index),
                        });
                    }
                }
            }
            (lsn, records, captures)
        };
        let pause = started.elapsed();

        let tmp = files.dir.join(format!("{}.tmp", snapshot_name(lsn)));
        let path = files.dir.join(snapshot_name(lsn));
        let fs = files.fs.as_ref();
        let mut file = fs.create(&tmp).map_err(|e| io("create", &tmp, &e))?;
        let mut buffer = Vec::with_capacity(1 << 20);
        frame::encode_file_header(SNAPSHOT_MAGIC, lsn, &mut buffer);
        let mut count = 0u64;
        let mut bytes = 0u64;
        let mut write = |buffer: &mut Vec<u8>, force: bool| -> Result<()> {
            if force || buffer.len() >= 1 << 20 {
                file.write_all(buffer).map_err(|e| io("write", &tmp, &e))?;
                bytes += buffer.len() as u64;
                buffer.clear();
            }
            Ok(())
        };
        for record in records.drain(..) {
            frame::encode_frame(&record.encode(), &mut buffer);
            count += 1;
        }
        let mut rows = 0u64;
        for (id, capture) in &captures {
            rows += capture.rows() as u64;
            if capture.chunks.is_empty() {
                continue;
            }
            // Each fragment stands alone: all are marked last.
            for mut fragment in capture.encode(Heads::Block, |w| data_record_header(w, *id))? {
                mark_last(&mut fragment);
                frame::encode_frame(&fragment, &mut buffer);
                count += 1;
                write(&mut buffer, false)?;
            }
        }
        frame::encode_frame(
            &Record::SnapshotEnd { records: count }.encode(),
            &mut buffer,
        );
        write(&mut buffer, true)?;
        file.sync().map_err(|e| io("fsync", &tmp, &e))?;
        drop(file);
        fs.rename(&tmp, &path).map_err(|e| io("rename", &tmp, &e))?;
        fs.sync_dir(&files.dir)
            .map_err(|e| io("sync", &files.dir, &e))?;
        let previous = files.snapshot_lsn.swap(lsn, Ordering::Relaxed);
        if previous != lsn
            && let Err(e) = fs.remove(&files.dir.join(snapshot_name(previous)))
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, "cannot remove an old snapshot");
        }
        let segments_removed = wal.remove_before(lsn)?;
        Ok(Some(SnapshotReport {
            lsn,
            bytes,
            tables: captures.len(),
            rows,
            pause,
            elapsed: started.elapsed(),
            segments_removed,
        }))
    }

    /// Flushes and fsyncs the WAL and stops its thread. Later writes fail.
    pub fn close(&self) -> Result<()> {
        if let Some(wal) = self.journal.wal() {
            wal.close()?;
        }
        Ok(())
    }
}

/// Checks a snapshot file whole before anything of it is applied: every
/// frame must be intact, and the last record must be the `SnapshotEnd` that
/// counts the others. Returns the payload ranges of those (after the header).
fn check_snapshot(bytes: &[u8], lsn: u64) -> Result<Vec<std::ops::Range<usize>>> {
    let named = frame::decode_file_header(SNAPSHOT_MAGIC, bytes).map_err(corrupt)?;
    if named != lsn {
        return Err(corrupt("header names another LSN"));
    }
    let body = &bytes[frame::FILE_HEADER..];
    let (mut frames, end) = frame::scan(body);
    if end != frame::End::Clean {
        return Err(corrupt(format!("damaged record ({end:?})")));
    }
    let Some(last) = frames.pop() else {
        return Err(corrupt("no records"));
    };
    match Record::decode(&body[last])? {
        Record::SnapshotEnd { records } if records == frames.len() as u64 => Ok(frames),
        _ => Err(corrupt("the file ends before its last record")),
    }
}

/// Applies records to storage that has no WAL attached yet, so nothing is
/// logged again. A record whose object no longer exists is skipped, just as
/// the change it records reached nothing live (a write to a table that a
/// concurrent DROP removed).
struct Replayer<'a> {
    storage: &'a Storage,
    tables: HashMap<u64, Weak<Table>>,
    sequences: HashMap<u64, Weak<Sequence>>,
    /// Records of a write whose last record has not come yet.
    pending: Vec<Pending>,
    /// The LSN of the first of them.
    pending_since: Option<u64>,
}

/// One record of a write, waiting for the write's last record.
enum Pending {
    Absorb(Arc<Table>, Box<Table>),
    Delete(Arc<Table>, Vec<i64>),
    DeleteRange(Arc<Table>, TimeRange, Option<Vec<SeriesKey>>),
}

impl<'a> Replayer<'a> {
    /// Applies the records of a write whose last record has come, in order.
    fn apply_pending(&mut self) -> Result<()> {
        for pending in self.pending.drain(..) {
            match pending {
                Pending::Absorb(table, staged) => {
                    table.absorb_replayed(*staged)?;
                }
                Pending::Delete(table, rows) => table.delete_replayed(&rows)?,
                Pending::DeleteRange(table, time_range, keys) => {
                    table.delete_range_replayed(time_range, keys.as_deref())?;
                }
            }
        }
        self.pending_since = None;
        Ok(())
    }

    /// Holds one record of a write (of table `id`, skipped when the table
    /// is gone) until the write's last record comes, then applies them all.
    fn pend(
        &mut self,
        lsn: u64,
        id: u64,
        last: bool,
        pending: impl FnOnce(Arc<Table>) -> Result<Pending>,
    ) -> Result<()> {
        self.pending_since.get_or_insert(lsn);
        if let Some(table) = self.tables.get(&id).and_then(Weak::upgrade) {
            self.pending.push(pending(table)?);
        }
        if last {
            self.apply_pending()?;
        }
        Ok(())
    }

    fn new(storage: &'a Storage) -> Self {
        Self {
            storage,
            tables: HashMap::new(),
            sequences: HashMap::new(),
            pending: Vec::new(),
            pending_since: None,
        }
    }

    /// Applies the record at `lsn` (0 in a snapshot).
    fn apply(&mut self, lsn: u64, record: Record) -> Result<()> {
        let storage = self.storage;
        let database = |name: &str| storage.database(name);
        // The schema whose table `name` is still table `id`: a record about
        // a table applies only to that table.
        let holding = |db: &str, schema: &str, name: &str, id: u64| {
            let namespace = database(db).and_then(|db| db.schema(schema))?;
            let current = namespace.table(name)?;
            (current.id() == id).then_some(namespace)
        };
        match record {
            Record::CreateDatabase { name } => {
                let _ = storage.create_database(&name, true)?.without_waiting();
            }
            Record::DropDatabase { name } => {
                let _ = storage.drop_database(&name, true)?.without_waiting();
            }
            Record::CreateSchema { database: db, name } => {
                if let Some(db) = database(&db) {
                    let _ = db.create_schema(&name, true)?.without_waiting();
                }
            }
            Record::DropSchema { database: db, name } => {
                if let Some(db) = database(&db) {
                    let _ = db.drop_schema(&name, true, true)?.without_waiting();
                }
            }
            Record::CreateTable {
                database: db,
                schema,
                name,
                id,
                options,
                columns,
                constraints,
            } => {
                storage.journal.saw_table_id(id);
                if let Some(namespace) = database(&db).and_then(|db| db.schema(&schema)) {
                    let table_schema =
                        TableSchema::try_new(columns)?.with_constraints(constraints)?;
                    let table = namespace.restore_table(&name, table_schema, options, id)?;
                    self.tables.insert(id, Arc::downgrade(&table));
                }
            }
            Record::DropTable {
                database: db,
                schema,
                name,
            } => {
                if let Some(namespace) = database(&db).and_then(|db| db.schema(&schema)) {
                    let _ = namespace.drop_table(&name, true)?.without_waiting();
                }
            }
            Record::AddColumns {
                database: db,
                schema,
                name,
                id,
                columns,
                fills,
            } => {
                if let Some(namespace) = holding(&db, &schema, &name, id) {
                    let fills: Vec<ColumnFill> = (fills.into_iter())
                        .map(|fill| fill.map_or(ColumnFill::Null, ColumnFill::Value))
                        .collect();
                    let (table, _) = namespace.add_columns(&name, columns, &fills)?;
                    self.tables.insert(id, Arc::downgrade(&table));
                }
            }
            Record::AlterColumns {
                database: db,
                schema,
                name,
                id,
                columns,
            } => {
                if let Some(namespace) = holding(&db, &schema, &name, id) {
                    let (table, _) = namespace.alter_columns(&name, columns)?;
                    self.tables.insert(id, Arc::downgrade(&table));
                }
            }
            Record::DropColumn {
                database: db,
                schema,
                name,
                id,
                column,
            } => {
                if let Some(namespace) = holding(&db, &schema, &name, id) {
                    let (table, _) = namespace.drop_columns(&name, &[column])?;
                    self.tables.insert(id, Arc::downgrade(&table));
                }
            }
            Record::RenameTable {
                database: db,
                schema,
                name,
                id,
                new_name,
            } => {
                if let Some(namespace) = holding(&db, &schema, &name, id) {
                    let (table, _) = namespace.rename_table(&name, &new_name)?;
                    self.tables.insert(id, Arc::downgrade(&table));
                }
            }
            Record::Data { table, last, image } => {
                self.pend(lsn, table, last, |table| {
                    let staged = table.staging_from_image(&image)?;
                    Ok(Pending::Absorb(table, Box::new(staged)))
                })?;
            }
            Record::DeleteRows { table, last, rows } => {
                self.pend(lsn, table, last, |table| Ok(Pending::Delete(table, rows)))?;
            }
            Record::DeleteRange {
                table,
                last,
                time_range,
                series,
            } => {
                self.pend(lsn, table, last, |table| {
                    Ok(Pending::DeleteRange(table, time_range, series))
                })?;
            }
            Record::SetRetention { table, retention } => {
                if let Some(table) = self.tables.get(&table).and_then(Weak::upgrade) {
                    table.set_retention(retention);
                }
            }
            Record::CreateSequence {
                database: db,
                schema,
                name,
                id,
                options,
                owner,
            } => {
                storage.journal.saw_table_id(id);
                if let Some(namespace) = database(&db).and_then(|db| db.schema(&schema)) {
                    let sequence = namespace.restore_sequence(&name, id, options, owner)?;
                    self.sequences.insert(id, Arc::downgrade(&sequence));
                }
            }
            Record::DropSequence {
                database: db,
                schema,
                name,
            } => {
                if let Some(namespace) = database(&db).and_then(|db| db.schema(&schema)) {
                    namespace.forget_sequence(&name);
                }
            }
            Record::SequenceValue { id, last, called } => {
                if let Some(sequence) = self.sequences.get(&id).and_then(Weak::upgrade) {
                    sequence.restore(SequenceState { last, called });
                }
            }
            Record::CreateView {
                database: db,
                schema,
                view,
            } => {
                if let Some(namespace) = database(&db).and_then(|db| db.schema(&schema)) {
                    namespace.restore_view(view);
                }
            }
            Record::CreateIndex {
                database: db,
                schema,
                index,
            } => {
                if let Some(namespace) = database(&db).and_then(|db| db.schema(&schema)) {
                    namespace.restore_index(index);
                }
            }
            Record::DropIndex {
                database: db,
                schema,
                name,
            } => {
                if let Some(namespace) = database(&db).and_then(|db| db.schema(&schema)) {
                    namespace.forget_index(&name);
                }
            }
            Record::DropView {
                database: db,
                schema,
                name,
            } => {
                if let Some(namespace) = database(&db).and_then(|db| db.schema(&schema)) {
                    namespace.forget_view(&name);
                }
            }
            Record::SnapshotEnd { .. } => {
                return Err(corrupt("a snapshot end record in the WAL"));
            }
            Record::PutRole(role) => storage.roles.restore(role),
            Record::DropRole { name } => storage.roles.forget(&name),
            Record::SetAcl {
                object,
                grantee,
                privileges,
            } => {
                let privileges = Privileges::from_bits(privileges);
                match object {
                    AclObject::Database(name) => {
                        if let Some(db) = database(&name) {
                            db.acl.write().set(&grantee, privileges);
                        }
                    }
                    AclObject::Schema { database: db, name } => {
                        if let Some(namespace) = database(&db).and_then(|db| db.schema(&name)) {
                            namespace.acl.write().set(&grantee, privileges);
                        }
                    }
                    AclObject::Table(id) => {
                        if let Some(table) = self.tables.get(&id).and_then(Weak::upgrade) {
                            table.acl_lock().write().set(&grantee, privileges);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
