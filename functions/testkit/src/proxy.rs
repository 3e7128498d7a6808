//! A loopback TCP proxy that can be switched off: while down it refuses new connections and
//! cuts open ones, as a stopped server would, while the server behind it keeps its state.
//! Used to take the S3 server "down" in fault tests without losing what it stores. It can
//! also cut each connection after the server has sent a number of bytes: a reply that stops
//! mid-body, as when the network fails during a download.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{copy_bidirectional, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct FlakyProxy {
    pub address: String,
    down: Arc<AtomicBool>,
    /// Bytes from the server each new connection may pass before it is cut; `u64::MAX`: no limit.
    reply_limit: Arc<AtomicU64>,
    cut: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

/// Client to server as is; server to client until `limit` bytes, then both sides closed.
async fn forward_limited(client: TcpStream, server: TcpStream, limit: u64) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    };
    let downstream = async {
        let mut sent = 0u64;
        let mut buffer = vec![0u8; 16 * 1024];
        while sent < limit {
            let Ok(read) = server_read.read(&mut buffer).await else {
                break;
            };
            if read == 0 {
                break;
            }
            let allowed = (limit - sent).min(read as u64) as usize;
            if client_write.write_all(&buffer[..allowed]).await.is_err() {
                break;
            }
            sent += allowed as u64;
        }
    };
    // Whichever direction ends first ends the connection: dropping the halves closes it.
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}

impl FlakyProxy {
    /// Forwards `127.0.0.1:<random port>` to `target` (`host:port`).
    pub async fn start(target: &str) -> FlakyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = listener.local_addr().expect("proxy address").to_string();
        let down = Arc::new(AtomicBool::new(false));
        let reply_limit = Arc::new(AtomicU64::new(u64::MAX));
        let (cut, _) = watch::channel(0u64);
        let target = target.to_owned();
        let (task_down, task_cut, task_limit) = (down.clone(), cut.clone(), reply_limit.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if task_down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let mut cut = task_cut.subscribe();
                let limit = task_limit.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    if limit < u64::MAX {
                        tokio::select! {
                            _ = forward_limited(client, server, limit) => {}
                            _ = cut.changed() => {}
                        }
                        return;
                    }
                    tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        FlakyProxy {
            address,
            down,
            reply_limit,
            cut,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Refuses connections from now on and cuts the open ones.
    pub fn go_down(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    pub fn come_back(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    /// Connections opened from now on are cut once the server has sent `bytes` through
    /// them (`None`: never). Open connections keep the limit they started with.
    pub fn cut_replies_after(&self, bytes: Option<u64>) {
        self.reply_limit
            .store(bytes.unwrap_or(u64::MAX), Ordering::SeqCst);
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
