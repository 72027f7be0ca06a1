use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use proptest::prelude::*;

use super::*;

/// An in-memory file system that remembers what was fsynced, so a test can
/// crash it (keep any amount of what was not) and fail its fsyncs.
#[derive(Debug, Default)]
pub(crate) struct MemFs {
    files: Mutex<BTreeMap<PathBuf, MemFile>>,
    pub(crate) fail_sync: AtomicBool,
    /// Set by a crash: the process is gone, so nothing more reaches the files.
    frozen: AtomicBool,
    /// Bumped by each crash. A handle opened before a crash belongs to the
    /// process that died, so it never writes again, even after a restart.
    generation: AtomicU64,
}

#[derive(Debug, Default, Clone)]
struct MemFile {
    data: Vec<u8>,
    synced: usize,
}

#[derive(Debug)]
struct Handle {
    fs: Arc<MemFs>,
    path: PathBuf,
    generation: u64,
}

impl Handle {
    /// Whether the process that opened this handle has crashed.
    fn dead(&self) -> bool {
        self.fs.frozen.load(Ordering::SeqCst)
            || self.fs.generation.load(Ordering::SeqCst) != self.generation
    }
}

impl WalFile for Handle {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        let mut files = self.fs.files.lock();
        if self.dead() {
            return Err(io::Error::other("crashed"));
        }
        let file = files.entry(self.path.clone()).or_default();
        file.data.extend_from_slice(data);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        if self.fs.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected fsync failure"));
        }
        let mut files = self.fs.files.lock();
        if self.dead() {
            return Err(io::Error::other("crashed"));
        }
        let file = files.entry(self.path.clone()).or_default();
        file.synced = file.data.len();
        Ok(())
    }
}

/// A handle on a shared [`MemFs`], as the WAL wants it.
#[derive(Debug, Clone)]
pub(crate) struct SharedMemFs(pub(crate) Arc<MemFs>);

impl FileSystem for SharedMemFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WalFile>> {
        let mut files = self.0.files.lock();
        if self.0.frozen.load(Ordering::SeqCst) {
            return Err(io::Error::other("crashed"));
        }
        files.insert(path.to_owned(), MemFile::default());
        Ok(Box::new(Handle {
            fs: self.0.clone(),
            path: path.to_owned(),
            generation: self.0.generation.load(Ordering::SeqCst),
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.0
            .files
            .lock()
            .get(path)
            .map(|f| f.data.clone())
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        Ok(self
            .0
            .files
            .lock()
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut files = self.0.files.lock();
        let file = files
            .remove(from)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        files.insert(to.to_owned(), file);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.0
            .files
            .lock()
            .remove(path)
            .map(drop)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut files = self.0.files.lock();
        let file = files
            .get_mut(path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        file.data.truncate(len as usize);
        file.synced = file.synced.min(file.data.len());
        Ok(())
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
}

impl MemFs {
    /// What a crash leaves: each file keeps what was fsynced plus the first
    /// `keep(unsynced bytes)` bytes of the rest.
    pub(crate) fn crash(&self, mut keep: impl FnMut(usize) -> usize) {
        self.frozen.store(true, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        let mut files = self.files.lock();
        for file in files.values_mut() {
            let unsynced = file.data.len() - file.synced;
            let kept = file.synced + keep(unsynced).min(unsynced);
            file.data.truncate(kept);
            file.synced = kept;
        }
    }

    /// Flips the bits of byte `offset` of the first file whose name starts
    /// with `prefix`; returns that file's name.
    pub(crate) fn flip_byte(&self, prefix: &str, offset: usize) -> String {
        let mut files = self.files.lock();
        let (path, file) = files
            .iter_mut()
            .find(|(p, _)| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .expect("a file with that prefix");
        file.data[offset] ^= 0xff;
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned()
    }

    /// After a crash, a new process may use the files again.
    pub(crate) fn restart(&self) {
        self.frozen.store(false, Ordering::SeqCst);
    }
}

fn dir() -> PathBuf {
    PathBuf::from("/wal")
}

fn options(mode: SyncMode, segment_size: u64) -> WalOptions {
    WalOptions { mode, segment_size }
}

fn record(i: usize) -> Vec<u8> {
    format!("record {i} {}", "x".repeat(i % 17)).into_bytes()
}

fn read_all(fs: &SharedMemFs, from: u64) -> (Vec<(u64, Vec<u8>)>, Replayed) {
    let mut records = Vec::new();
    let replayed = replay(&dir(), fs, from, OnCorruption::Fail, |lsn, payload| {
        records.push((lsn, payload.to_vec()));
        Ok::<_, ()>(())
    })
    .expect("replay")
    .expect("visit");
    (records, replayed)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn records_come_back_in_order_across_segments() {
    let fs = SharedMemFs(Arc::new(MemFs::default()));
    let wal = Wal::open(
        &dir(),
        Arc::new(fs.clone()),
        options(SyncMode::Sync, 200),
        0,
        vec![],
    )
    .unwrap();
    let rt = runtime();
    let mut ends = Vec::new();
    for i in 0..50 {
        let end = wal.append(&[record(i)]).unwrap();
        rt.block_on(wal.durable(end)).unwrap();
        ends.push(end);
    }
    wal.close().unwrap();
    let (records, replayed) = read_all(&fs, 0);
    assert_eq!(records.len(), 50);
    assert!(replayed.segments.len() > 3, "segments rotate");
    for (i, (lsn, payload)) in records.iter().enumerate() {
        assert_eq!(payload, &record(i));
        assert_eq!(*lsn, if i == 0 { 0 } else { ends[i - 1] });
    }
    assert_eq!(replayed.end, *ends.last().unwrap());

    // From a snapshot's LSN on, only later records are visited, and the
    // segments before it can go.
    let (later, _) = read_all(&fs, ends[29]);
    assert_eq!(later.len(), 20);
    assert_eq!(later[0].1, record(30));
    let wal = Wal::open(
        &dir(),
        Arc::new(fs.clone()),
        options(SyncMode::Sync, 200),
        replayed.end,
        replayed.segments.clone(),
    )
    .unwrap();
    let removed = wal.remove_before(ends[29]).unwrap();
    assert!(removed > 0);
    drop(wal);
    let (after, _) = read_all(&fs, ends[29]);
    assert_eq!(after, later);
}

#[test]
fn a_handle_of_a_crashed_process_never_writes_again() {
    // A WAL still held when the crash comes (an Arc a table keeps) must not
    // append after the restart: a real dead process cannot.
    let mem = Arc::new(MemFs::default());
    let fs = SharedMemFs(mem.clone());
    let mut old = fs.create(&dir().join("f")).unwrap();
    old.write_all(b"before").unwrap();
    old.sync().unwrap();
    mem.crash(|_| 0);
    mem.restart();
    assert!(old.write_all(b"after").is_err());
    assert!(old.sync().is_err());
    assert_eq!(fs.read(&dir().join("f")).unwrap(), b"before");
    let mut new = fs.create(&dir().join("g")).unwrap();
    assert!(new.write_all(b"new").is_ok());
}

#[test]
fn a_failed_fsync_fails_the_waiters_and_every_later_write() {
    let mem = Arc::new(MemFs::default());
    let fs = SharedMemFs(mem.clone());
    let wal = Wal::open(
        &dir(),
        Arc::new(fs),
        options(SyncMode::Sync, 1 << 20),
        0,
        vec![],
    )
    .unwrap();
    let rt = runtime();
    let end = wal.append(&[record(1)]).unwrap();
    rt.block_on(wal.durable(end)).unwrap();
    mem.fail_sync.store(true, Ordering::SeqCst);
    let end = wal.append(&[record(2)]).unwrap();
    assert!(matches!(
        rt.block_on(wal.durable(end)),
        Err(Error::Failed(_))
    ));
    // Even once fsync works again: no retry that pretends.
    mem.fail_sync.store(false, Ordering::SeqCst);
    assert!(matches!(wal.append(&[record(3)]), Err(Error::Failed(_))));
}

#[test]
fn a_mid_log_corruption_refuses_to_start_unless_told_to_truncate() {
    let mem = Arc::new(MemFs::default());
    let fs = SharedMemFs(mem.clone());
    let wal = Wal::open(
        &dir(),
        Arc::new(fs.clone()),
        options(SyncMode::Sync, 1 << 20),
        0,
        vec![],
    )
    .unwrap();
    let rt = runtime();
    let mut ends = Vec::new();
    for i in 0..10 {
        ends.push(wal.append(&[record(i)]).unwrap());
    }
    rt.block_on(wal.durable(ends[9])).unwrap();
    drop(wal);
    let path = dir().join(segment_name(0));
    {
        let mut files = mem.files.lock();
        let file = files.get_mut(&path).unwrap();
        file.data[frame::FILE_HEADER + ends[4] as usize + frame::FRAME_HEADER + 2] ^= 0xff;
    }
    let error = replay(&dir(), &fs, 0, OnCorruption::Fail, |_, _| Ok::<_, ()>(()))
        .expect_err("corruption is refused");
    let message = error.to_string();
    assert!(
        message.contains("wal-00000000000000000000.log"),
        "{message}"
    );
    assert!(
        message.contains(&format!("byte {}", frame::FILE_HEADER as u64 + ends[4])),
        "{message}"
    );
    let mut seen = 0;
    let replayed = replay(&dir(), &fs, 0, OnCorruption::Truncate, |_, _| {
        seen += 1;
        Ok::<_, ()>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(seen, 5);
    assert_eq!(replayed.end, ends[4]);
    // The cut is permanent: a second start reads the same five, cleanly.
    let (records, _) = read_all(&fs, 0);
    assert_eq!(records.len(), 5);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Recovering after a crash that keeps any part of what was not fsynced
    /// yields a prefix of the appended records that holds every
    /// acknowledged one, and a second recovery (after more appends) agrees.
    #[test]
    fn a_crash_leaves_a_prefix_holding_every_acknowledged_record(
        count in 1usize..40,
        acknowledged in 0usize..40,
        keep in any::<prop::sample::Index>(),
        segment_size in 64u64..2048,
    ) {
        let acknowledged = acknowledged.min(count);
        let mem = Arc::new(MemFs::default());
        let fs = SharedMemFs(mem.clone());
        let wal = Wal::open(&dir(), Arc::new(fs.clone()), options(SyncMode::Sync, segment_size), 0, vec![]).unwrap();
        let rt = runtime();
        let mut ends = Vec::new();
        for i in 0..count {
            ends.push(wal.append(&[record(i)]).unwrap());
            if i + 1 == acknowledged {
                rt.block_on(wal.durable(ends[i])).unwrap();
            }
        }
        // The crash: the flusher may have written anything since, and
        // writes nothing more.
        mem.crash(|unsynced| keep.index(unsynced + 1));
        drop(wal);
        mem.restart();
        let (records, replayed) = read_all(&fs, 0);
        prop_assert!(records.len() >= acknowledged);
        prop_assert!(records.len() <= count);
        for (i, (_, payload)) in records.iter().enumerate() {
            prop_assert_eq!(payload, &record(i));
        }
        // Appending after recovery continues the same log.
        let wal = Wal::open(&dir(), Arc::new(fs.clone()), options(SyncMode::Sync, segment_size), replayed.end, replayed.segments).unwrap();
        let end = wal.append(&[b"after".to_vec()]).unwrap();
        rt.block_on(wal.durable(end)).unwrap();
        drop(wal);
        let (again, _) = read_all(&fs, 0);
        prop_assert_eq!(again.len(), records.len() + 1);
        prop_assert_eq!(&again[records.len()].1, &b"after".to_vec());
    }
}
