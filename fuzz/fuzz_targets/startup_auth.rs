//! Any bytes a client sends before it has authenticated, from the first
//! byte on (SSLRequest, StartupMessage, password and SASL messages, garbage):
//! the server answers or hangs up, promptly, never authenticates the client
//! (the superuser's password is 32 random bytes), and keeps serving.

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use epochdb::config::{Config, Durability, Password};
use epochdb::db::Db;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

struct Server {
    runtime: Runtime,
    port: u16,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = std::env::temp_dir().join(format!("epochdb-fuzz-{}", std::process::id()));
        let mut config = Config::for_data_dir(&dir);
        config.durability = Durability::None;
        config.superuser = Some("admin".into());
        let password: String = (0..32)
            .map(|i| char::from(b'a' + ((std::process::id() as usize * 31 + i * 7) % 26) as u8))
            .collect();
        config.superuser_password = Some(Password(password));
        config.authentication_timeout = Duration::from_secs(2);
        // Every input fails to log in; a delay would slow every later one.
        config.auth_delay = Duration::ZERO;
        config.max_unauthenticated_per_address = 0;
        let db = Db::open(&config).expect("open");
        let port = runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let port = listener.local_addr().expect("addr").port();
            tokio::spawn(epochdb::server::run(listener, db, std::future::pending()));
            port
        });
        Server { runtime, port }
    })
}

/// Whether `reply` holds an AuthenticationOk ('R', length 8, code 0).
fn authenticated(reply: &[u8]) -> bool {
    // A leading 'N' or 'S' answers an SSLRequest and is not framed.
    [0, 1].iter().any(|&start| {
        let mut at = start;
        while at + 5 <= reply.len() {
            let kind = reply[at];
            let len = i32::from_be_bytes([reply[at + 1], reply[at + 2], reply[at + 3], reply[at + 4]]);
            if len < 4 {
                return false;
            }
            let end = at + 1 + len as usize;
            if kind == b'R' && len == 8 && reply.get(at + 5..at + 9) == Some(&[0, 0, 0, 0]) {
                return true;
            }
            at = end;
        }
        false
    })
}

fuzz_target!(|data: &[u8]| {
    let server = server();
    server.runtime.block_on(async {
        let mut socket = TcpStream::connect(("127.0.0.1", server.port))
            .await
            .expect("the server stopped accepting connections");
        let _ = socket.write_all(data).await;
        let _ = socket.shutdown().await;
        let mut reply = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut reply)).await;
        assert!(read.is_ok(), "the server neither answered nor hung up");
        assert!(!authenticated(&reply), "authenticated by {data:?}");
    });
});
