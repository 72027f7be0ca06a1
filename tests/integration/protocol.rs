//! The wire protocol with raw frames: what no driver sends, answered as
//! PostgreSQL 15 answers it.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{TIMEOUT, TestServer};

/// A frame: its type byte, then its length and body.
fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Reads until a ReadyForQuery frame ('Z', length 5) has arrived.
async fn until_ready(socket: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while !received.windows(5).any(|w| w == b"Z\0\0\0\x05") {
        let n = tokio::time::timeout(TIMEOUT, socket.read(&mut buffer))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "the server closed the connection");
        received.extend_from_slice(&buffer[..n]);
    }
    received
}

/// The type bytes of the frames in `bytes`.
fn kinds(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 5 <= bytes.len() {
        out.push(bytes[at]);
        let len = i32::from_be_bytes([bytes[at + 1], bytes[at + 2], bytes[at + 3], bytes[at + 4]]);
        at += 1 + len.max(4) as usize;
    }
    out
}

async fn connected(server: &TestServer) -> TcpStream {
    let mut socket = TcpStream::connect(("127.0.0.1", server.port()))
        .await
        .unwrap();
    let mut body = 196_608i32.to_be_bytes().to_vec();
    body.extend_from_slice(b"user\0postgres\0database\0postgres\0\0");
    let mut packet = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    socket.write_all(&packet).await.unwrap();
    until_ready(&mut socket).await;
    socket
}

#[tokio::test]
async fn an_unknown_format_code_in_bind_is_22023_and_the_session_goes_on() {
    let server = TestServer::start().await;
    let mut socket = connected(&server).await;
    let parse = frame(b'P', b"\0SELECT 1\0\0\0");
    let sync = frame(b'S', b"");
    let execute = frame(b'E', b"\0\0\0\0\0");
    // One result column in format 7.
    let bind = frame(b'B', b"\0\0\0\0\0\0\0\x01\0\x07");
    let mut messages = [parse.clone(), bind, execute.clone(), sync.clone()].concat();
    socket.write_all(&messages).await.unwrap();
    let answer = until_ready(&mut socket).await;
    assert!(
        kinds(&answer).contains(&b'E') && answer.windows(7).any(|w| w == b"C22023\0"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // A parameter format code matters only with parameters: PostgreSQL
    // ignores it without, and so does EpochDB.
    let bind = frame(b'B', b"\0\0\0\x01\0\x07\0\0\0\0");
    messages = [parse, bind, execute, sync].concat();
    socket.write_all(&messages).await.unwrap();
    let answer = until_ready(&mut socket).await;
    let kinds = kinds(&answer);
    assert!(
        !kinds.contains(&b'E') && kinds.contains(&b'D'),
        "a row and no error: {}",
        String::from_utf8_lossy(&answer)
    );
    server.stop().await;
}

#[tokio::test]
async fn malformed_query_frames_are_08p01_and_a_short_length_closes() {
    let server = TestServer::start().await;
    let mut socket = connected(&server).await;
    // Without its NUL, and with bytes after it: 08P01, and the session goes
    // on, as in PostgreSQL.
    for (body, message) in [
        (&b"SELECT 1"[..], &b"invalid string in message"[..]),
        (&b"SELECT 1\0ab"[..], &b"invalid message format"[..]),
    ] {
        socket.write_all(&frame(b'Q', body)).await.unwrap();
        let answer = until_ready(&mut socket).await;
        assert!(
            answer.windows(7).any(|w| w == b"C08P01\0")
                && answer.windows(message.len()).any(|w| w == message),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    socket
        .write_all(&frame(b'Q', b"SELECT 41 + 1\0"))
        .await
        .unwrap();
    let answer = until_ready(&mut socket).await;
    assert!(answer.windows(2).any(|w| w == b"42"), "the session goes on");
    // A length field below 4: the server closes the connection.
    socket.write_all(b"Q\0\0\0\x03").await.unwrap();
    let mut buffer = [0u8; 256];
    let read = tokio::time::timeout(TIMEOUT, socket.read(&mut buffer))
        .await
        .expect("the server closes the connection");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    server.stop().await;
}
