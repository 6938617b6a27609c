//! The wire format between the workers and the API server, its CRC-32, and the API
//! server itself.

use std::io::{self, BufReader, Read};

use gosync_once::OnceValue;
use gosync_pipe::PipeReader;

use super::state::mix;
use super::Key;

/// The CRC-32 (IEEE) table, built once by whichever thread needs it first.
static CRC_TABLE: OnceValue<[u32; 256], fn() -> [u32; 256]> = OnceValue::new(crc_table);

fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    for (i, entry) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *entry = c;
    }
    table
}

/// The CRC-32 (IEEE) of `bytes`.
///
/// # Examples
///
/// ```
/// assert_eq!(gosync_examples::controller::crc32(b"123456789"), 0xcbf4_3926);
/// ```
pub fn crc32(bytes: &[u8]) -> u32 {
    let table = CRC_TABLE.get();
    !bytes.iter().fold(!0u32, |c, &b| {
        table[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

/// Header: frame length (u32), key (u32), version (u64); then the payload; then the
/// CRC-32 of everything before it.
const HEADER: usize = 16;

/// Renders `key` at `version` into `buf` as one frame.
pub(crate) fn render(buf: &mut Vec<u8>, key: Key, version: u64, payload: usize) {
    let len = HEADER + payload + 4;
    buf.reserve(len);
    buf.extend_from_slice(&(len as u32).to_le_bytes());
    buf.extend_from_slice(&key.to_le_bytes());
    buf.extend_from_slice(&version.to_le_bytes());
    let mut x = mix(u64::from(key) << 40 ^ version);
    while buf.len() < HEADER + payload {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let take = (HEADER + payload - buf.len()).min(8);
        buf.extend_from_slice(&x.to_le_bytes()[..take]);
    }
    let crc = crc32(buf);
    buf.extend_from_slice(&crc.to_le_bytes());
}

/// What the API server received, for the report.
#[derive(Debug, Default)]
pub struct Server {
    /// The version applied for each object (0: none).
    pub(crate) applied: Vec<u64>,
    pub(crate) frames: u64,
    pub(crate) bytes: u64,
    pub(crate) checksum: u64,
    pub(crate) corrupt: u64,
    pub(crate) backwards: u64,
    pub(crate) same_version: u64,
    pub(crate) error: Option<io::Error>,
}

impl Server {
    /// The outcome of a server that did not finish (it panicked, or its thread or task
    /// could not be joined): nothing received, and `why` as its error, which fails the
    /// report's pipe check.
    pub fn failed(why: &str) -> Server {
        Server {
            error: Some(io::Error::other(why.to_owned())),
            ..Server::default()
        }
    }
}

/// The API server: reads frames from the pipe until the writer closes it, checking each
/// frame's CRC and recording the version it applies for each of `objects` objects.
///
/// It reads with the blocking [`Read`] of the pipe, on a thread of its own (the
/// threaded controller) or on the tokio runtime's blocking pool (the async one).
pub fn api_server(reader: PipeReader, objects: u32) -> Server {
    let mut s = Server {
        applied: vec![0; objects as usize],
        ..Server::default()
    };
    let mut r = BufReader::with_capacity(64 << 10, &reader);
    let mut frame = Vec::new();
    loop {
        let mut len = [0u8; 4];
        match r.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return s, // writer closed
            Err(e) => {
                s.error = Some(e);
                return s;
            }
        }
        let len = u32::from_le_bytes(len) as usize;
        if !(HEADER + 4..=(16 << 20) + HEADER + 4).contains(&len) {
            s.error = Some(io::Error::other(format!("bad frame length {len}")));
            return s;
        }
        frame.clear();
        frame.resize(len, 0);
        frame[..4].copy_from_slice(&(len as u32).to_le_bytes());
        if let Err(e) = r.read_exact(&mut frame[4..]) {
            s.error = Some(e);
            return s;
        }
        let crc = u32::from_le_bytes(frame[len - 4..].try_into().unwrap());
        s.frames += 1;
        s.bytes += len as u64;
        s.checksum = s.checksum.wrapping_add(u64::from(crc));
        if crc32(&frame[..len - 4]) != crc {
            s.corrupt += 1;
            continue;
        }
        let key = u32::from_le_bytes(frame[4..8].try_into().unwrap());
        let version = u64::from_le_bytes(frame[8..16].try_into().unwrap());
        let Some(slot) = s.applied.get_mut(key as usize) else {
            s.corrupt += 1;
            continue;
        };
        match version.cmp(slot) {
            std::cmp::Ordering::Less => s.backwards += 1,
            std::cmp::Ordering::Equal => s.same_version += 1,
            std::cmp::Ordering::Greater => *slot = version,
        }
    }
}
