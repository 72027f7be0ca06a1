//! Framing shared by WAL segments and snapshot files: a file header, then
//! records, each behind a checksummed frame header.
//!
//! ```text
//! file header (24 bytes): magic [8] | version u32 | lsn u64 | crc32c(previous 20 bytes) u32
//! frame:                  len u32 | crc32c(payload) u32 | crc32c(previous 8 bytes) u32 | payload [len]
//! ```
//! Every integer is little-endian. The header checksum lets a reader trust a
//! frame's length before it reads the payload, so a corrupt length is told
//! apart from a write the crash cut short.

use std::ops::Range;

/// Bytes of a file header.
pub const FILE_HEADER: usize = 24;
/// Bytes of a frame header.
pub const FRAME_HEADER: usize = 12;
/// The largest payload a frame may carry. Writers split larger records.
pub const MAX_PAYLOAD: usize = 64 << 20;
/// The version of the file layouts.
pub const VERSION: u32 = 1;

/// Appends the header of a file whose first record is at `lsn`.
pub fn encode_file_header(magic: &[u8; 8], lsn: u64, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(magic);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&lsn.to_le_bytes());
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Reads a file header: the `lsn` it names, or why it is not valid.
pub fn decode_file_header(magic: &[u8; 8], bytes: &[u8]) -> Result<u64, &'static str> {
    let header = bytes
        .get(..FILE_HEADER)
        .ok_or("file is shorter than its header")?;
    if &header[..8] != magic {
        return Err("bad magic number");
    }
    if crc32c::crc32c(&header[..20]) != le_u32(&header[20..24]) {
        return Err("file header checksum mismatch");
    }
    let version = le_u32(&header[8..12]);
    if version != VERSION {
        return Err("unsupported file format version");
    }
    Ok(le_u64(&header[12..20]))
}

/// Appends one frame holding `payload` (at most [`MAX_PAYLOAD`] bytes).
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(payload.len() <= MAX_PAYLOAD);
    let start = out.len();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    let header_crc = crc32c::crc32c(&out[start..start + 8]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Bytes a frame holding `payload_len` bytes takes.
pub fn frame_len(payload_len: usize) -> usize {
    FRAME_HEADER + payload_len
}

/// How a run of frames ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Every byte belongs to a valid frame.
    Clean,
    /// The bytes from `offset` on are what a crash leaves while appending: an
    /// incomplete frame, a last frame whose payload does not match its
    /// checksum, or zeros.
    Torn { offset: usize },
    /// The frame at `offset` is damaged, and valid-looking bytes follow it.
    Corrupt { offset: usize, reason: &'static str },
}

/// The frames of `bytes` (the part of a file after its header): the payload
/// range of each valid frame, in order, and how the run ended.
pub fn scan(bytes: &[u8]) -> (Vec<Range<usize>>, End) {
    let mut frames = Vec::new();
    let mut offset = 0;
    'frames: while offset < bytes.len() {
        let rest = &bytes[offset..];
        // What is wrong with this frame, and whether a crash can explain it.
        let failure: (bool, &'static str) = 'check: {
            if rest.len() < FRAME_HEADER {
                break 'check (true, "incomplete frame header");
            }
            let len = le_u32(&rest[0..4]) as usize;
            if crc32c::crc32c(&rest[..8]) != le_u32(&rest[8..12]) || len > MAX_PAYLOAD {
                break 'check (false, "frame header checksum mismatch");
            }
            let Some(payload) = rest.get(FRAME_HEADER..FRAME_HEADER + len) else {
                break 'check (true, "incomplete frame");
            };
            if crc32c::crc32c(payload) != le_u32(&rest[4..8]) {
                // A torn write can leave a whole last frame with stale pages.
                break 'check (
                    rest.len() == FRAME_HEADER + len,
                    "payload checksum mismatch",
                );
            }
            frames.push(offset + FRAME_HEADER..offset + FRAME_HEADER + len);
            offset += FRAME_HEADER + len;
            continue 'frames;
        };
        let (torn, reason) = failure;
        // A file the kernel extended without writing its pages reads as zeros.
        if torn || rest.iter().all(|&b| b == 0) {
            return (frames, End::Torn { offset });
        }
        return (frames, End::Corrupt { offset, reason });
    }
    (frames, End::Clean)
}

pub(crate) fn le_u32(bytes: &[u8]) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(word)
}

pub(crate) fn le_u64(bytes: &[u8]) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn log(payloads: &[Vec<u8>]) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for payload in payloads {
            encode_frame(payload, &mut bytes);
            ends.push(bytes.len());
        }
        (bytes, ends)
    }

    #[test]
    fn file_headers_round_trip_and_reject_damage() {
        let mut header = Vec::new();
        encode_file_header(b"EPOCHWAL", 1234, &mut header);
        assert_eq!(header.len(), FILE_HEADER);
        assert_eq!(decode_file_header(b"EPOCHWAL", &header), Ok(1234));
        assert!(decode_file_header(b"EPOCHSNP", &header).is_err());
        header[14] ^= 1;
        assert!(decode_file_header(b"EPOCHWAL", &header).is_err());
        assert!(decode_file_header(b"EPOCHWAL", &header[..10]).is_err());
    }

    #[test]
    fn a_flipped_bit_in_the_middle_is_corruption_not_a_torn_tail() {
        let (mut bytes, ends) = log(&[b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
        bytes[ends[0] + FRAME_HEADER] ^= 0x10;
        let (frames, end) = scan(&bytes);
        assert_eq!(frames.len(), 1);
        assert_eq!(
            end,
            End::Corrupt {
                offset: ends[0],
                reason: "payload checksum mismatch"
            }
        );
        // A damaged length is caught by the header checksum.
        let (mut bytes, ends) = log(&[b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
        bytes[ends[0]] ^= 0x40;
        assert!(matches!(scan(&bytes).1, End::Corrupt { offset, .. } if offset == ends[0]));
    }

    #[test]
    fn zeros_after_the_last_frame_are_a_torn_tail() {
        let (mut bytes, ends) = log(&[b"one".to_vec()]);
        bytes.extend_from_slice(&[0; 100]);
        let (frames, end) = scan(&bytes);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0], FRAME_HEADER..ends[0]);
        assert_eq!(end, End::Torn { offset: ends[0] });
    }

    proptest! {
        /// Any prefix of a log reads as the frames it holds whole, and the
        /// rest, if any, as a torn tail: never as corruption, never more.
        #[test]
        fn every_prefix_reads_as_its_whole_frames(
            payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..12),
            cut in any::<prop::sample::Index>(),
        ) {
            let (bytes, ends) = log(&payloads);
            let cut = cut.index(bytes.len() + 1);
            let (frames, end) = scan(&bytes[..cut]);
            let whole = ends.iter().filter(|&&e| e <= cut).count();
            prop_assert_eq!(frames.len(), whole);
            for (frame, payload) in frames.iter().zip(&payloads) {
                prop_assert_eq!(&bytes[frame.clone()], payload.as_slice());
            }
            let valid = if whole == 0 { 0 } else { ends[whole - 1] };
            if valid == cut {
                prop_assert_eq!(end, End::Clean);
            } else {
                prop_assert_eq!(end, End::Torn { offset: valid });
            }
        }
    }
}
