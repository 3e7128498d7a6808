//! A loopback HTTP server that cuts replies mid-body: it answers a connection with a 200,
//! its headers (announcing a longer body than it sends) and the start of a CMC body, then
//! closes the connection — what a dropped connection after the headers looks like to a
//! client. wiremock cannot do this: it always sends whole bodies. After a set number of cut
//! connections it forwards the rest to a real server, so a test can script "cut, then OK".

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::io::{copy_bidirectional, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The start of a CMC reply, as far as a cut connection delivers it.
const PARTIAL_BODY: &str =
    r#"{"status": {"timestamp": "2024-06-01T12:35:02.511Z", "error_code": 0, "#;

/// What the headers promise: more than [`PARTIAL_BODY`], so the client sees the body end early.
const ANNOUNCED_LENGTH: usize = 4096;

pub struct CuttingServer {
    pub address: String,
    cut: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl CuttingServer {
    /// Cuts the first `cuts` connections (every one with `None`), and forwards the ones
    /// after them to `target` (`host:port`).
    pub async fn start(cuts: Option<u32>, target: &str) -> CuttingServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the cutting server");
        let address = listener.local_addr().expect("its address").to_string();
        let cut = Arc::new(AtomicU32::new(0));
        let target = target.to_owned();
        let counter = cut.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let done = counter.load(Ordering::SeqCst);
                if cuts.is_none_or(|limit| done < limit) {
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(cut_reply(client));
                } else {
                    tokio::spawn(forward(client, target.clone()));
                }
            }
        });
        CuttingServer { address, cut, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// How many connections were cut so far.
    pub fn cut_count(&self) -> u32 {
        self.cut.load(Ordering::SeqCst)
    }
}

impl Drop for CuttingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads the request head, sends the headers and part of the body, and closes.
async fn cut_reply(mut client: TcpStream) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {ANNOUNCED_LENGTH}\r\n\r\n{PARTIAL_BODY}"
    );
    if client.write_all(reply.as_bytes()).await.is_ok() {
        let _ = client.flush().await;
    }
    let _ = client.shutdown().await;
}

async fn forward(mut client: TcpStream, target: String) {
    if let Ok(mut server) = TcpStream::connect(&target).await {
        let _ = copy_bidirectional(&mut client, &mut server).await;
    }
}
