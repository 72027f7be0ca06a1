//! The HTTP listener, driven by hand-made requests over TCP: InfluxDB's
//! write endpoints with gzip and chunked bodies, partial writes, limits,
//! credentials, and writes surviving a restart. The real InfluxDB clients
//! are in `python.rs`.

use std::io::Write as _;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{TIMEOUT, TestServer, text_rows};

/// A response: its status and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: String,
    body: String,
}

/// Sends `head` (request line and headers, without the blank line) and
/// `body` as one request, and reads the whole answer.
async fn request(port: u16, head: &str, body: &[u8]) -> Answer {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut message = head.replace('\n', "\r\n").into_bytes();
        message.extend_from_slice(b"\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        message.extend_from_slice(body);
        stream.write_all(&message).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        answer
    };
    let answer = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .expect("timed out");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Answer {
        status: headers[9..12].parse().unwrap(),
        headers: headers.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

async fn post(port: u16, path: &str, headers: &str, body: &[u8]) -> Answer {
    let mut head = format!("POST {path} HTTP/1.1\nContent-Length: {}", body.len());
    if !headers.is_empty() {
        head.push('\n');
        head.push_str(headers);
    }
    request(port, &head, body).await
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

async fn rows(server: &TestServer, query: &str) -> Vec<String> {
    text_rows(&server.connect().await, query).await
}

async fn http_server() -> TestServer {
    TestServer::start_with(|config| config.http_listen = "127.0.0.1:0".into()).await
}

#[tokio::test]
async fn writes_create_tables_and_answer_in_each_dialect() {
    let server = http_server().await;
    let port = server.http_port();
    let ping = request(port, "HEAD /ping HTTP/1.1", b"").await;
    assert_eq!(ping.status, 204);
    assert!(
        ping.headers.contains("x-influxdb-version: 1.8.10"),
        "{ping:?}"
    );
    assert_eq!(request(port, "GET /health HTTP/1.1", b"").await.status, 200);

    let body = b"cpu,host=a usage=1.5,n=1i 1700000000\ncpu,host=b usage=2,n=2i 1700000001\n";
    let answer = post(port, "/write?db=postgres&precision=s", "", body).await;
    assert_eq!(answer.status, 204, "{answer:?}");
    assert_eq!(
        rows(
            &server,
            "SELECT host, usage, n, time FROM cpu ORDER BY host"
        )
        .await,
        vec![
            "a|1.5|1|2023-11-14 22:13:20+00",
            "b|2|2|2023-11-14 22:13:21+00"
        ]
    );

    // A partial write: the good lines commit, each bad one is named.
    let body =
        b"cpu,host=c usage=3 1700000002\ncpu,host=c usage=\"x\" 1700000003\nnot line protocol\n";
    let v1 = post(port, "/write?precision=s", "", body).await;
    assert_eq!(v1.status, 400);
    assert!(v1.body.starts_with("{\"error\":\"partial write: line 2: field type conflict: input field \\\"usage\\\" on measurement \\\"cpu\\\" is type string, already exists as type float; line 3: unable to parse"), "{v1:?}");
    assert!(v1.body.ends_with("dropped=2\"}"), "{v1:?}");
    let v2 = post(
        port,
        "/api/v2/write?bucket=postgres/autogen&precision=s",
        "",
        b"cpu,host=d usage=4 1700000004\ncpu usage=t 1700000005",
    )
    .await;
    assert_eq!(v2.status, 400);
    assert!(
        v2.body.contains("\"code\":\"invalid\"") && v2.body.contains("\"line\":2"),
        "{v2:?}"
    );
    let v3 = post(
        port,
        "/api/v3/write_lp?db=postgres&precision=s",
        "",
        b"cpu,host=e usage=5 1700000006\ncpu,host=e usage=1i 1700000007",
    )
    .await;
    assert_eq!(v3.status, 400);
    assert!(
        v3.body.contains("partial write of line protocol occurred")
            && v3.body.contains("\"line_number\":2"),
        "{v3:?}"
    );
    // accept_partial=false writes nothing.
    let strict = post(
        port,
        "/api/v3/write_lp?db=postgres&precision=s&accept_partial=false",
        "",
        b"cpu,host=f usage=6 1700000008\ncpu,host=f usage=1i 1700000009",
    )
    .await;
    assert_eq!(strict.status, 400);
    assert!(strict.body.contains("parsing failed"), "{strict:?}");
    assert_eq!(
        rows(&server, "SELECT host FROM cpu ORDER BY time").await,
        vec!["a", "b", "c", "d", "e"]
    );

    // Not found, bad parameters, and keys no table may take.
    let missing = post(port, "/api/v2/write?bucket=nope", "", b"m f=1").await;
    assert_eq!(
        (
            missing.status,
            missing.body.contains("\"code\":\"not found\"")
        ),
        (404, true)
    );
    assert_eq!(
        post(port, "/write?precision=fortnight", "", b"m f=1")
            .await
            .status,
        400
    );
    let keys = post(
        port,
        "/write",
        "",
        b"k,a=1 a=2\nk time=1\nk f=1,f=2\nk,t=x f=1",
    )
    .await;
    assert_eq!(keys.status, 400);
    assert!(keys.body.contains("dropped=3"), "{keys:?}");
    assert!(keys.body.contains("duplicate key \\\"a\\\""), "{keys:?}");
    assert!(keys.body.contains("invalid key: \\\"time\\\""), "{keys:?}");
    assert_eq!(rows(&server, "SELECT t, f FROM k").await, vec!["x|1"]);
    server.stop().await;
}

#[tokio::test]
async fn new_fields_and_tags_add_columns_that_old_rows_read_as_null() {
    let server = http_server().await;
    let port = server.http_port();
    let first = post(port, "/write?precision=s", "", b"w,host=a v=1 1700000000\n").await;
    assert_eq!(first.status, 204);
    // A new field, a new tag (a text field), both in one request.
    let body = b"w,host=b,rack=r1 v=2,load=5i 1700000001\nw,host=a v=3,ok=true 1700000002\n";
    let answer = post(port, "/write?precision=s", "", body).await;
    assert_eq!(answer.status, 204, "{answer:?}");
    assert_eq!(
        rows(
            &server,
            "SELECT host, v, rack, load, ok FROM w ORDER BY time"
        )
        .await,
        vec!["a|1|NULL|NULL|NULL", "b|2|r1|5|NULL", "a|3|NULL|NULL|t"]
    );
    // The new columns keep their types, as the old ones do.
    let conflict = post(
        port,
        "/write?precision=s",
        "",
        b"w,host=c load=1.5 1700000003",
    )
    .await;
    assert_eq!(conflict.status, 400);
    assert!(
        conflict
            .body
            .contains("is type float, already exists as type integer"),
        "{conflict:?}"
    );
    // SQL sees the columns, and its own ALTER TABLE meets the same table.
    let client = server.connect().await;
    client
        .batch_execute("ALTER TABLE w ADD COLUMN note TEXT")
        .await
        .unwrap();
    let answer = post(
        port,
        "/write?precision=s",
        "",
        b"w,host=d note=\"n\",v=4 1700000004",
    )
    .await;
    assert_eq!(answer.status, 204, "{answer:?}");
    assert_eq!(
        rows(&server, "SELECT count(*), count(note), count(rack) FROM w").await,
        vec!["4|1|1"]
    );
    server.stop().await;
}

#[tokio::test]
async fn web_pages_roles_without_login_and_odd_tables_are_handled() {
    let server = http_server().await;
    let port = server.http_port();
    // Without passwords, a request a web page makes is refused.
    let page = post(port, "/write", "Origin: https://example.com", b"web v=1").await;
    assert_eq!(page.status, 403, "{page:?}");
    let fetch = post(port, "/write", "Sec-Fetch-Site: cross-site", b"web v=1").await;
    assert_eq!(fetch.status, 403, "{fetch:?}");
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE ROLE nologin; \
             CREATE TABLE two_times (time TIMESTAMPTZ NOT NULL, seen TIMESTAMPTZ, host TEXT, v FLOAT8)",
        )
        .await
        .unwrap();
    let role = post(port, "/write?u=nologin", "", b"web v=1").await;
    assert_eq!(role.status, 401, "{role:?}");
    // A table with a second timestamp column takes lines; that column is NULL.
    let answer = post(
        port,
        "/write?precision=s",
        "",
        b"two_times,host=a v=1 1700000000",
    )
    .await;
    assert_eq!(answer.status, 204, "{answer:?}");
    assert_eq!(
        rows(&server, "SELECT host, v, seen FROM two_times").await,
        vec!["a|1|NULL"]
    );
    // v3 guesses each timestamp's unit by default.
    let body = b"auto v=1 1700000000\nauto v=2 1700000001000\nauto v=3 1700000002000000000\n";
    let answer = post(port, "/api/v3/write_lp?db=postgres", "", body).await;
    assert_eq!(answer.status, 204, "{answer:?}");
    assert_eq!(
        rows(&server, "SELECT v, time FROM auto ORDER BY time").await,
        vec![
            "1|2023-11-14 22:13:20+00",
            "2|2023-11-14 22:13:21+00",
            "3|2023-11-14 22:13:22+00"
        ]
    );
    // A line with more keys than a table may have columns is refused, at once.
    let mut wide = String::from("wide ");
    for i in 0..5000 {
        wide.push_str(&format!("{}f{i}=1", if i == 0 { "" } else { "," }));
    }
    let answer = post(port, "/write", "", wide.as_bytes()).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(answer.body.contains("more than 1599 keys"), "{answer:?}");
    server.stop().await;
}

#[tokio::test]
async fn gzip_and_chunked_bodies_are_read_and_the_limit_applies_inflated() {
    let server = TestServer::start_with(|config| {
        config.http_listen = "127.0.0.1:0".into();
        config.http_max_body_size = 1 << 20;
    })
    .await;
    let port = server.http_port();
    let lines: String = (0..1000)
        .map(|i| {
            format!(
                "g,host=h{} v={i}i {}\n",
                i % 7,
                1_700_000_000_000_000_000i64 + i
            )
        })
        .collect();
    let answer = post(
        port,
        "/api/v2/write?bucket=postgres",
        "Content-Encoding: gzip",
        &gzip(lines.as_bytes()),
    )
    .await;
    assert_eq!(answer.status, 204, "{answer:?}");
    assert_eq!(
        rows(&server, "SELECT count(*), sum(v) FROM g").await,
        vec!["1000|499500"]
    );

    // Chunked, as the node client sends it: no Content-Length.
    let chunk = b"c v=1 1\nc v=2 2\n";
    let mut body = format!("{:x}\r\n", chunk.len()).into_bytes();
    body.extend_from_slice(chunk);
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    let answer = request(
        port,
        "POST /write HTTP/1.1\nTransfer-Encoding: chunked",
        &body,
    )
    .await;
    assert_eq!(answer.status, 204, "{answer:?}");
    assert_eq!(rows(&server, "SELECT sum(v) FROM c").await, vec!["3"]);

    // A bomb: 64 MiB of zeros in a few dozen KiB is refused at the limit.
    let bomb = gzip(&vec![b'0'; 64 << 20]);
    assert!(bomb.len() < 1 << 20);
    let answer = post(port, "/api/v2/write", "Content-Encoding: gzip", &bomb).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    assert!(answer.body.contains("\"maxLength\":1048576"), "{answer:?}");
    let plain = post(port, "/write", "", &vec![b'x'; 2 << 20]).await;
    assert_eq!(plain.status, 413, "{plain:?}");
    let broken = post(port, "/write", "Content-Encoding: gzip", b"not gzip at all").await;
    assert_eq!(broken.status, 400, "{broken:?}");
    // The server keeps serving.
    assert_eq!(request(port, "GET /ping HTTP/1.1", b"").await.status, 204);
    server.stop().await;
}

#[tokio::test]
async fn with_passwords_every_way_of_sending_them_is_checked() {
    let server = TestServer::start_with(|config| {
        config.http_listen = "127.0.0.1:0".into();
        config.superuser_password = Some(epochdb::config::Password("s3cret".into()));
    })
    .await;
    let port = server.http_port();
    let line = b"auth v=1";
    let nothing = post(port, "/write", "", line).await;
    assert_eq!(nothing.status, 401, "{nothing:?}");
    assert!(nothing.body.contains("authorization failed"));
    assert!(
        nothing.headers.contains("www-authenticate: basic"),
        "{nothing:?}"
    );
    let wrong = post(
        port,
        "/api/v2/write",
        "Authorization: Token postgres:wrong",
        line,
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.body.contains("\"code\":\"unauthorized\""),
        "{wrong:?}"
    );
    // postgres:s3cret
    let basic = "Authorization: Basic cG9zdGdyZXM6czNjcmV0";
    for (path, headers) in [
        ("/write", basic),
        ("/write?u=postgres&p=s3cret", ""),
        ("/api/v2/write", "Authorization: Token postgres:s3cret"),
        ("/api/v2/write", "Authorization: Token s3cret"),
        ("/api/v3/write_lp", "Authorization: Bearer s3cret"),
    ] {
        let answer = post(port, path, headers, line).await;
        assert_eq!(answer.status, 204, "{path} {headers}: {answer:?}");
    }
    // A role without INSERT may not write; with it, it may.
    let client = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=postgres password=s3cret dbname=postgres",
            server.port()
        ),
        tokio_postgres::NoTls,
    )
    .await
    .map(|(client, connection)| {
        tokio::spawn(connection);
        client
    })
    .unwrap();
    client
        .batch_execute("CREATE ROLE writer LOGIN PASSWORD 'pw'")
        .await
        .unwrap();
    let denied = post(port, "/write?u=writer&p=pw", "", line).await;
    assert_eq!(denied.status, 403, "{denied:?}");
    let create = post(port, "/write?u=writer&p=pw", "", b"fresh v=1").await;
    assert_eq!(create.status, 403, "{create:?}");
    client
        .batch_execute("GRANT INSERT ON auth TO writer")
        .await
        .unwrap();
    assert_eq!(
        post(port, "/write?u=writer&p=pw", "", line).await.status,
        204
    );
    let count = client
        .query_one("SELECT count(*) FROM auth", &[])
        .await
        .unwrap();
    assert_eq!(count.get::<_, i64>(0), 6);
    server.stop().await;
}

#[tokio::test]
async fn an_acknowledged_write_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let configure =
        |config: &mut epochdb::config::Config| config.http_listen = "127.0.0.1:0".into();
    let server = TestServer::start_in(dir.path(), configure).await;
    let lines: String = (0..5000)
        .map(|i| format!("r,s=s{} v={i} {i}\n", i % 10))
        .collect();
    let answer = post(
        server.http_port(),
        "/write?precision=ms",
        "",
        lines.as_bytes(),
    )
    .await;
    assert_eq!(answer.status, 204);
    server.stop().await;
    let server = TestServer::start_in(dir.path(), configure).await;
    assert_eq!(
        rows(&server, "SELECT count(*), sum(v), count(DISTINCT s) FROM r").await,
        vec!["5000|12497500|10"]
    );
    server.stop().await;
}
