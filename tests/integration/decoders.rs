//! The recovery decoders' fuzz properties (`fuzz/properties.rs`) on fixed
//! seeds, since CI has no nightly toolchain for cargo-fuzz: the frames,
//! records and table images of a real data directory, mutated many ways,
//! random bytes, and lengths that claim far more than the input holds.

use std::path::Path;
use std::time::{Duration, Instant};

use epochdb::wal::frame;

use crate::common::{Rng, TestServer};

#[path = "../../fuzz/properties.rs"]
mod properties;

/// The field column types of the table the seeds come from, by their tags
/// in the file formats (docs/FILE-FORMATS.md): v float8, n int8, i int4,
/// s int2, r float4, ok bool, note text, ts timestamp.
const FIELD_TAGS: [u8; 8] = [3, 5, 6, 7, 4, 8, 9, 1];
/// The first byte of a `Data` record, and its header's length (kind, table
/// id, last flag).
const DATA: u8 = 7;
const DATA_HEADER: usize = 10;

/// Mutations of `seed`: truncations, bit flips, overwritten and inserted
/// bytes (among them varints and words claiming huge lengths), and splices
/// with `other`.
fn mutations(seed: &[u8], other: &[u8], rng: &mut Rng, count: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(count + 16);
    let step = (seed.len() / 16).max(1);
    for cut in (0..seed.len()).step_by(step) {
        out.push(seed[..cut].to_vec());
    }
    const HUGE: [&[u8]; 4] = [
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        &[0x80, 0x80, 0x80, 0x80, 0x80, 0x20],
        &[0xff, 0xff, 0xff, 0x7f],
        &[0, 0, 0, 0, 0, 1, 0, 0],
    ];
    for _ in 0..count {
        let mut bytes = seed.to_vec();
        let at = rng.below(bytes.len() + 1);
        match rng.below(5) {
            0 if !bytes.is_empty() => {
                let i = at.min(bytes.len() - 1);
                bytes[i] ^= 1 << rng.below(8);
            }
            1 => {
                let huge = HUGE[rng.below(HUGE.len())];
                let end = (at + huge.len()).min(bytes.len());
                bytes.splice(at..end, huge.iter().copied());
            }
            2 => {
                let byte = rng.next() as u8;
                bytes.insert(at, byte);
            }
            3 if !bytes.is_empty() => {
                bytes.remove(at.min(bytes.len() - 1));
            }
            _ => {
                let from = rng.below(other.len() + 1);
                bytes.truncate(at);
                bytes.extend_from_slice(&other[from..]);
            }
        }
        out.push(bytes);
    }
    out
}

/// The frames (after the file header) of each file in `dir` whose name
/// ends with `suffix`: `.log` for WAL segments, `.snap` for snapshots.
fn files(dir: &Path, suffix: &str) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(suffix) {
            let bytes = std::fs::read(&path).unwrap();
            files.push(bytes[frame::FILE_HEADER.min(bytes.len())..].to_vec());
        }
    }
    files
}

/// Builds a data directory holding every kind of record: DDL, roles,
/// grants, and writes of every column type, with NULLs, sealed blocks and
/// heads.
async fn data_directory(dir: &Path) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let server = TestServer::start_in(dir, |c| {
        c.snapshot_interval = Duration::ZERO;
        c.snapshot_wal_size = usize::MAX;
    })
    .await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE t (time TIMESTAMPTZ NOT NULL, host TEXT, v DOUBLE PRECISION, \
                 n BIGINT, i INTEGER, s SMALLINT, r REAL, ok BOOLEAN, note TEXT, ts TIMESTAMP) \
                 WITH (tags = 'host', block_size = 16);
             INSERT INTO t SELECT t, 'h' || CAST(extract(epoch FROM t)::bigint % 3 AS TEXT), \
                 extract(epoch FROM t)::float8 / 7, 1, 2, 3, 0.5, true, 'x', \
                 t::timestamp AS ts FROM generate_series(TIMESTAMPTZ '2024-01-01', \
                 TIMESTAMPTZ '2024-01-01 00:05:00', INTERVAL '7 seconds') AS s(t);
             INSERT INTO t (time, host) VALUES ('2024-01-02 00:00:00+00', NULL);
             CREATE TABLE devices (id INT PRIMARY KEY, name TEXT UNIQUE, site TEXT);
             INSERT INTO devices VALUES (1, 'a', 's'), (2, NULL, NULL);
             CREATE SCHEMA s2;
             CREATE ROLE reader LOGIN PASSWORD 'secret';
             GRANT SELECT ON t TO reader;
             DROP SCHEMA s2;",
        )
        .await
        .unwrap();
    drop(client);
    server.stop().await;
    let wal = files(dir, ".log");
    // A server that recovers the directory writes a snapshot of it soon.
    let server = TestServer::start_in(dir, |c| {
        c.snapshot_interval = Duration::from_millis(50);
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let snapshots = loop {
        let snapshots = files(dir, ".snap");
        if !snapshots.is_empty() || Instant::now() > deadline {
            break snapshots;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    server.stop().await;
    (wal, snapshots)
}

#[tokio::test]
async fn recovery_decoders_reject_or_decode_any_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, snapshots) = data_directory(dir.path()).await;
    let files: Vec<Vec<u8>> = wal.iter().chain(&snapshots).cloned().collect();
    assert!(
        !wal.is_empty() && !snapshots.is_empty(),
        "no files to seed from"
    );

    let mut records = Vec::new();
    for file in &files {
        let (frames, _) = frame::scan(file);
        records.extend(frames.into_iter().map(|r| file[r].to_vec()));
    }
    let images: Vec<Vec<u8>> = records
        .iter()
        .filter(|r| r.first() == Some(&DATA) && r.len() > DATA_HEADER)
        .map(|r| {
            let mut input = vec![1, FIELD_TAGS.len() as u8];
            input.extend_from_slice(&FIELD_TAGS);
            input.extend_from_slice(&r[DATA_HEADER..]);
            input
        })
        .collect();
    assert!(
        records.len() > 10 && !images.is_empty(),
        "{} records, {} images",
        records.len(),
        images.len()
    );

    let mut rng = Rng(0xDEC0_DE5E_ED00_0001);
    // The seeds themselves decode, and every property holds on them.
    for record in &records {
        assert!(epochdb::storage::decoders::reencode_record(record).is_ok());
    }
    for (i, file) in files.iter().enumerate() {
        let other = &files[(i + 1) % files.len()];
        for input in mutations(file, other, &mut rng, 300) {
            properties::wal_frames(&input);
        }
    }
    for (i, record) in records.iter().enumerate() {
        let other = &records[(i + 7) % records.len()];
        for input in mutations(record, other, &mut rng, 60) {
            properties::record(&input);
        }
    }
    for (i, image) in images.iter().enumerate() {
        let other = &images[(i + 1) % images.len()];
        for input in mutations(image, other, &mut rng, 400) {
            properties::table_image(&input);
        }
    }
    for _ in 0..3000 {
        let len = rng.below(96);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        properties::wal_frames(&bytes);
        properties::record(&bytes);
        properties::table_image(&bytes);
    }
}

/// Lengths that claim 2^40 bytes, where a reader that trusted them would
/// allocate: each is an error, found before any allocation.
#[test]
fn huge_lengths_are_refused_before_allocating() {
    // A varint of 2^40.
    let huge = [0x80, 0x80, 0x80, 0x80, 0x80, 0x20];
    // CreateTable (kind 5) naming a table with 2^40 columns.
    let mut create = vec![5, 1, b'd', 1, b's', 1, b't'];
    create.extend_from_slice(&7u64.to_le_bytes());
    create.extend_from_slice(&86_400_000_000i64.to_le_bytes());
    create.push(8);
    create.extend_from_slice(&huge);
    assert!(epochdb::storage::decoders::reencode_record(&create).is_err());
    // A name (CreateDatabase, kind 1) 2^40 bytes long.
    let mut name = vec![1];
    name.extend_from_slice(&huge);
    assert!(epochdb::storage::decoders::reencode_record(&name).is_err());
    // An image chunk: a new series whose tag is 2^40 bytes long; then one
    // with 2^40 blocks; then a head of 2^40 raw rows.
    let types = [epochdb::storage::decoders::column_type_of_tag(3).unwrap()];
    let mut tag = vec![0];
    tag.extend_from_slice(&huge);
    assert!(epochdb::storage::decoders::decode_image(&tag, 1, &types).is_err());
    let mut blocks = vec![0, 0];
    blocks.extend_from_slice(&0i64.to_le_bytes());
    blocks.extend_from_slice(&huge);
    assert!(epochdb::storage::decoders::decode_image(&blocks, 1, &types).is_err());
    let mut head = vec![0, 0];
    head.extend_from_slice(&0i64.to_le_bytes());
    head.push(0);
    head.extend_from_slice(&huge);
    head.push(2);
    assert!(epochdb::storage::decoders::decode_image(&head, 1, &types).is_err());
    // A frame header claiming 2^31 bytes, with a valid header checksum.
    let mut framed = Vec::new();
    frame::encode_frame(b"abc", &mut framed);
    framed[0..4].copy_from_slice(&(1u32 << 31).to_le_bytes());
    let crc = crc32c::crc32c(&framed[0..8]);
    framed[8..12].copy_from_slice(&crc.to_le_bytes());
    let (frames, _) = frame::scan(&framed);
    assert!(frames.is_empty());
}
