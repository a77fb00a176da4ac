//! The ceiling: a bare actix-web server that reads the body and answers 202, on the same
//! machine, with the same worker count as `candor serve`. Candor's ingest rate is reported as
//! a ratio to this.
//!
//! `ceiling <address> --group-wait`: the same endpoint, but each request first waits for its
//! group as a beacon waits for the spool's group commit (the spool's own `gather`: requests
//! handed to one thread, which lingers while writers are concurrent, then answers the whole
//! group), with no write, no sync and no other work. What that wait alone costs, with the
//! benchmark's connection count, is the difference between this and the bare ceiling.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use candor::pipeline::spool::gather;
use tokio::sync::oneshot;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8090".into());
    let groups = match args.next().as_deref() {
        None => None,
        Some("--group-wait") => Some(Arc::new(Mutex::new(group_thread()))),
        Some(other) => panic!("usage: ceiling <address> [--group-wait], not {other}"),
    };
    HttpServer::new(move || {
        let groups = groups.clone();
        App::new().route(
            "/api/event",
            web::post().to(move |_body: web::Bytes| {
                let groups = groups.clone();
                async move {
                    if let Some(groups) = groups {
                        let (done, wait) = oneshot::channel();
                        let sent = groups.lock().expect("not poisoned").send(done).is_ok();
                        if sent {
                            let _ = wait.await;
                        }
                    }
                    HttpResponse::Accepted().json(serde_json::json!({"status": "accepted"}))
                }
            }),
        )
    })
    .bind(&listen)?
    .run()
    .await
}

/// The thread that answers requests group by group.
fn group_thread() -> mpsc::Sender<oneshot::Sender<()>> {
    let (tx, rx) = mpsc::channel::<oneshot::Sender<()>>();
    std::thread::spawn(move || {
        let mut last_group = 0;
        while let Ok(first) = rx.recv() {
            let group = gather(&rx, first, last_group);
            last_group = group.len();
            for done in group {
                let _ = done.send(());
            }
        }
    });
    tx
}
