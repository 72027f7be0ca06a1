//! Recovery's decoders, open to any bytes: the fuzz targets and their
//! fixed-seed tests drive them with what a crash or a bad disk could leave
//! behind. Each either decodes or returns an error; none panics, and none
//! allocates more than its input could hold.

use super::error::Result;
use super::image;
use super::record::Record;
use super::schema::ColumnType;

/// Decodes `bytes` as one WAL or snapshot record and returns its encoding
/// again, which decodes to the same record.
pub fn reencode_record(bytes: &[u8]) -> Result<Vec<u8>> {
    Ok(Record::decode(bytes)?.encode())
}

/// Decodes `bytes` as a table image fragment for a table with `tag_count`
/// tags and field columns of `field_types`, as a `Data` record or a
/// snapshot carries one, decoding every column of its blocks, and returns
/// how many rows it holds.
pub fn decode_image(bytes: &[u8], tag_count: usize, field_types: &[ColumnType]) -> Result<usize> {
    image::decode(bytes, tag_count, field_types)?
        .iter()
        .map(image::ImageChunk::decoded_rows)
        .sum()
}

/// The column type a file format's tag byte names, if any: for building
/// schemas from fuzz input.
pub fn column_type_of_tag(tag: u8) -> Option<ColumnType> {
    ColumnType::from_tag(tag).ok()
}
