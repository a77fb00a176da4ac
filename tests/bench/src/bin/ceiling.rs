//! The ceiling: a bare actix-web server that reads the body and answers 202, on the same
//! machine, with the same worker count as `candor serve`. Candor's ingest rate is reported as
//! a ratio to this.

use actix_web::{web, App, HttpResponse, HttpServer};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());
    HttpServer::new(|| {
        App::new().route(
            "/api/event",
            web::post().to(|_body: web::Bytes| async {
                HttpResponse::Accepted().json(serde_json::json!({"status": "accepted"}))
            }),
        )
    })
    .bind(&listen)?
    .run()
    .await
}
