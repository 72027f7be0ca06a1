//! The properties the recovery decoders' fuzz targets check, shared with
//! the fixed-seed tests that `cargo test` runs (`tests/integration/decoders.rs`),
//! since CI has no nightly toolchain for cargo-fuzz.
//!
//! Each decoder reads exactly the bytes a crash or a bad disk could leave:
//! any input either decodes or is an error; nothing panics, and nothing
//! allocates beyond what its input could hold (an allocation a length field
//! asked for would abort the process, failing the run).

use epochdb::storage::decoders;
use epochdb::wal::frame;

/// The WAL frame scanner: the frames it returns lie inside the input, in
/// order, and each is followed by the next or by what the scan calls the
/// end; a frame it returns re-encodes to the same bytes.
pub(crate) fn wal_frames(data: &[u8]) {
    let (frames, _end) = frame::scan(data);
    let mut last_end = 0;
    for range in &frames {
        assert!(
            range.start >= last_end && range.end <= data.len(),
            "{range:?}"
        );
        assert!(range.start <= range.end);
        let payload = &data[range.clone()];
        let mut framed = Vec::new();
        frame::encode_frame(payload, &mut framed);
        let start = range.start - (framed.len() - payload.len());
        assert_eq!(&data[start..range.end], &framed[..], "frame at {start}");
        last_end = range.end;
    }
}

/// A WAL or snapshot record: whatever decodes encodes to bytes that decode
/// to the same record.
pub(crate) fn record(data: &[u8]) {
    if let Ok(encoded) = decoders::reencode_record(data) {
        assert_eq!(
            decoders::reencode_record(&encoded).ok().as_deref(),
            Some(&encoded[..])
        );
    }
}

/// A table image for a schema the input itself chooses: the first byte is
/// the tag count (mod 8), the second the field count (mod 8), then one type
/// tag per field; the rest is the image.
pub(crate) fn table_image(data: &[u8]) {
    let Some((&tags, rest)) = data.split_first() else {
        return;
    };
    let Some((&fields, rest)) = rest.split_first() else {
        return;
    };
    let fields = usize::from(fields % 8);
    if rest.len() < fields {
        return;
    }
    let (types, image) = rest.split_at(fields);
    let Some(types) = types
        .iter()
        .map(|&t| decoders::column_type_of_tag(t))
        .collect::<Option<Vec<_>>>()
    else {
        return;
    };
    let _ = decoders::decode_image(image, usize::from(tags % 8), &types);
}
